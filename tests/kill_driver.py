"""Test helper: run `fieldtune train ...` in this process and SIGKILL it at a chosen point.

python -m tests.kill_driver step:5 train CONFIG ...   # killed right after optimizer step 5 (before its checkpoint)
python -m tests.kill_driver save:4 train CONFIG ...   # killed while checkpoint 4 is half-written
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
    step = int(value)

    class KillAtStep(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == step:
                _die()

    original_init = base.FieldTrainer.__init__

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        if (
            kind == "step" and type(self.model).__name__ != "HeadModel"
        ):  # the outer trainer, not a probe phase
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
