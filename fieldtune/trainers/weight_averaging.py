"""Weight averaging (`training.weight_averaging`): SWA-style checkpoint averaging, or an EMA, of the
trainable weights from a fraction of training on, swapped into the model when training ends.

A `TrainerCallback`: it snapshots the trainable parameters at each epoch end (or every N optimizer steps)
once `start` x max_steps steps are done, keeps their running mean (torch's `get_swa_multi_avg_fn`) or an
exponential average (`get_ema_multi_avg_fn`), and at `on_train_end` (after Trainer restored the best
checkpoint, which the average supersedes) copies it into the parameters, so evaluation, the saved model/
and the test predictions use the averaged weights and the model loads in plain transformers / peft.
Only trainable parameters are averaged (LoRA: the adapter and the head); buffers keep the model's
(BatchNorm statistics are recomputed afterwards by precise BN, `VisionTrainer._train_and_recalibrate`).
The average travels in every checkpoint (`weight_average.pt`), so `--resume` continues it exactly.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.optim.swa_utils import get_ema_multi_avg_fn, get_swa_multi_avg_fn
from transformers import TrainerCallback

from fieldtune.errors import RunDirError

logger = logging.getLogger(__name__)
AVERAGE_FILE = "weight_average.pt"  # in each checkpoint folder


class WeightAveraging(TrainerCallback):
    """Average the trainable weights from `start` (a fraction of the optimizer steps) on: at each epoch end,
    or every `every_steps` steps; an EMA with `ema_decay` instead of the equal mean when it is given."""

    def __init__(self, start: float, every_steps: int | None = None, ema_decay: float | None = None) -> None:
        self.start, self.every_steps, self.ema_decay = start, every_steps, ema_decay
        self.enabled = True  # off while a trainer runs a phase whose weights are not the final ones
        self._update = get_ema_multi_avg_fn(ema_decay) if ema_decay is not None else get_swa_multi_avg_fn()
        self.reset()

    def reset(self) -> None:
        self.average: dict[str, torch.Tensor] | None = None
        self.count = 0  # snapshots taken so far
        self.applied = False  # the average is in the model

    def start_step(self, max_steps: int) -> int:
        return math.ceil(self.start * max_steps)

    # ------------------------------------------------------------------ snapshots

    def snapshot(self, model: nn.Module) -> None:
        """Fold the current trainable weights into the average."""
        current = _trainable(model)
        if self.average is None:
            self.average = {n: p.detach().clone() for n, p in current.items()}
        else:
            names = list(self.average)
            self._update([self.average[n] for n in names], [current[n].detach() for n in names], self.count)
        self.count += 1

    def on_step_end(self, args: Any, state: Any, control: Any, model: nn.Module = None, **kwargs: Any):
        since = state.global_step - self.start_step(state.max_steps)  # steps since averaging started
        if self.enabled and self.every_steps and since >= 0 and since % self.every_steps == 0:
            self.snapshot(model)

    def on_epoch_end(self, args: Any, state: Any, control: Any, model: nn.Module = None, **kwargs: Any):
        if self.enabled and not self.every_steps and state.global_step >= self.start_step(state.max_steps):
            self.snapshot(model)

    def on_train_end(self, args: Any, state: Any, control: Any, model: nn.Module = None, **kwargs: Any):
        if not self.enabled:
            return
        if self.average is None:
            logger.warning(
                "training.weight_averaging: training ended at step %d, before averaging started (step %d);"
                " the model keeps its own weights",
                state.global_step,
                self.start_step(state.max_steps),
            )
            return
        with torch.no_grad():
            for name, p in _trainable(model).items():
                p.copy_(self.average[name].to(p.dtype))
        self.applied = True
        kind = f"EMA (decay {self.ema_decay})" if self.ema_decay is not None else "mean"
        logger.info("Weight averaging: the %s of %d snapshots is now the model's weights", kind, self.count)

    # ------------------------------------------------------------------ checkpoints (--resume)

    def save(self, folder: str | Path) -> None:
        """Written into every checkpoint, also before averaging starts (`load` tells the two apart)."""
        path = Path(folder)
        path.mkdir(parents=True, exist_ok=True)
        torch.save({"average": self.average, "count": self.count}, path / AVERAGE_FILE)

    def load(self, folder: str | Path, model: nn.Module, global_step: int, max_steps: int) -> None:
        """The average as the checkpoint left it; a checkpoint past the start without one cannot go on."""
        self.reset()
        path = Path(folder) / AVERAGE_FILE
        if path.is_file():
            saved = torch.load(path, weights_only=True)
            if saved["average"] is not None and set(saved["average"]) != set(_trainable(model)):
                raise RunDirError(
                    f"{path}: its weight average covers other parameters than this run trains; resume with"
                    " the recipe the run was started with, or train again with --overwrite."
                )
            if saved["average"] is not None:
                self.average, self.count = saved["average"], int(saved["count"])
        elif global_step >= self.start_step(max_steps):
            raise RunDirError(
                f"{folder} was written without a weight average but averaging starts at step"
                f" {self.start_step(max_steps)}; resume without `training.weight_averaging`, or train again"
                " with --overwrite."
            )


def _trainable(model: nn.Module) -> dict[str, nn.Parameter]:
    return {n: p for n, p in model.named_parameters() if p.requires_grad}
