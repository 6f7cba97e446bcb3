"""Test helper: run `fieldtune train ...` in this process and SIGKILL it at a chosen point.

python -m tests.kill_driver step:5 train CONFIG ...   # killed right after optimizer step 5 (before its checkpoint)
python -m tests.kill_driver save:4 train CONFIG ...   # killed while checkpoint 4 is half-written
python -m tests.kill_driver step:3@3 sweep CONFIG ... # killed after step 3 of the third run (a sweep's trial 3)
"""

from __future__ import annotations

import os
import signal
import sys

from transformers import Trainer, TrainerCallback

import fieldtune.trainers.base as base
from fieldtune.cli import main


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def install(point: str) -> None:
    kind, _, value = point.partition(":")
    value, _, nth = value.partition("@")
    step, nth = int(value), int(nth or 1)
    started = [0]  # outer trainers built so far in this process

    class KillAtStep(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == step:
                _die()

    original_init = base.FieldTrainer.__init__

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        if type(self.model).__name__ == "HeadModel":  # a probe phase, not a run's own trainer
            return
        started[0] += 1
        if kind == "step" and started[0] == nth:
            self.add_callback(KillAtStep())

    base.FieldTrainer.__init__ = init
    if kind == "save":
        original_save = Trainer._save_optimizer_and_scheduler

        def save(self, output_dir):
            if self.state.global_step == step:
                _die()  # the model weights of this checkpoint are written, the optimizer state is not
            return original_save(self, output_dir)

        Trainer._save_optimizer_and_scheduler = save


if __name__ == "__main__":
    install(sys.argv[1])
    sys.exit(main(sys.argv[2:]))
