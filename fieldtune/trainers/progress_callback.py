"""Training and evaluation progress as log lines when stderr is not a terminal (`fieldtune.progress`).

On a terminal the Trainer's own tqdm bars run (`disable_tqdm=False`); elsewhere Trainer would redraw them
with carriage returns, so `disable_tqdm` is on and this callback logs the same counts, rate and ETA.
"""

from __future__ import annotations

from typing import Any

from transformers import PrinterCallback, Trainer, TrainerCallback
from transformers.trainer_utils import has_length

from fieldtune import progress


class LogProgressCallback(TrainerCallback):
    """The log-line twin of `transformers.ProgressCallback`: training steps and evaluation batches."""

    def __init__(self) -> None:
        self.training_bar: Any = None
        self.prediction_bar: Any = None
        self.current_step = 0

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.is_world_process_zero:
            self.training_bar = progress.bar(total=state.max_steps, desc="Training", unit="step")
        self.current_step = 0

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.training_bar is not None:
            self.training_bar.update(state.global_step - self.current_step)  # a resumed run starts ahead
            self.current_step = state.global_step

    def on_prediction_step(
        self, args: Any, state: Any, control: Any, eval_dataloader: Any = None, **kwargs: Any
    ) -> None:
        if not state.is_world_process_zero or not has_length(eval_dataloader):
            return
        if self.prediction_bar is None:
            total = len(eval_dataloader)
            self.prediction_bar = progress.bar(total=total, desc="Evaluating", unit="batch")
        self.prediction_bar.update(1)

    def _close_prediction(self) -> None:
        if self.prediction_bar is not None:
            self.prediction_bar.close()
            self.prediction_bar = None

    def on_evaluate(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._close_prediction()

    def on_predict(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._close_prediction()

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.training_bar is not None:
            self.training_bar.close()
            self.training_bar = None


def attach_progress(trainer: Trainer) -> None:
    """Log lines instead of bars off a terminal; neither (nor the printed log dicts) with --quiet."""
    if not trainer.args.disable_tqdm:
        return  # the Trainer's own tqdm bars
    current = progress.mode()
    if current == "log":
        trainer.add_callback(LogProgressCallback())
    elif current == "off":
        trainer.remove_callback(PrinterCallback)
