"""Training and evaluation progress as log lines when stderr is not a terminal (`fieldtune.progress`).

On a terminal the Trainer's own tqdm bars run (`disable_tqdm=False`); elsewhere Trainer would redraw them
with carriage returns, so `disable_tqdm` is on and this callback logs the same counts, rate and ETA.
Either way the Trainer's log dicts (`{'loss': '1.096', 'grad_norm': ...}`) become one readable line per
evaluation and per training-loss report (`describe_log`); the end-of-training dict is left to the summary.
"""

from __future__ import annotations

from typing import Any

from transformers import PrinterCallback, ProgressCallback, Trainer, TrainerCallback
from transformers.trainer_utils import has_length

from fieldtune import progress

# timings and counters: the summary reports throughput once
_NOT_SHOWN = ("runtime", "samples_per_second", "steps_per_second", "total_flos", "grad_norm", "epoch")


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if 1e-3 <= abs(value) < 1e4 or value == 0 else f"{value:.3g}"
    return str(value)


def describe_log(logs: dict[str, Any]) -> str | None:
    """One line for a Trainer log: an evaluation's metrics, or the training loss; None for the
    end-of-training dict (`train_runtime`, ...), which the run's summary reports in its own words."""
    epoch = logs.get("epoch")
    at = f" at epoch {epoch:.2f}".replace(".00", "") if isinstance(epoch, float | int) else ""
    if "loss" in logs:
        rate = logs.get("learning_rate")
        rate_text = f" (learning rate {rate:.2e})" if isinstance(rate, float | int) else ""
        return f"Training loss{at}: {_number(logs['loss'])}{rate_text}"
    if any(k.startswith("train_") for k in logs):
        return None
    prefixes = {k.split("_", 1)[0] for k in logs if "_" in k and k != "epoch"}
    if len(prefixes) != 1:
        return None
    prefix = prefixes.pop()
    shown = [(k[len(prefix) + 1 :], v) for k, v in logs.items() if k.startswith(prefix + "_")]
    shown = [(k, v) for k, v in shown if not k.endswith(_NOT_SHOWN)]
    what = "Validation" if prefix == "eval" else prefix.capitalize()
    return f"{what}{at}: " + ", ".join(f"{k} {_number(v)}" for k, v in shown)


class _DescribedProgressCallback(ProgressCallback):
    """The Trainer's tqdm bars, with log dicts written as `describe_log` lines above them."""

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
        line = describe_log(logs or {})
        if state.is_world_process_zero and self.training_bar is not None and line:
            self.training_bar.write(line)


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

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
        line = describe_log(logs or {})
        if state.is_world_process_zero and line:
            progress.logger.info(line)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.training_bar is not None:
            self.training_bar.close()
            self.training_bar = None


def attach_progress(trainer: Trainer) -> None:
    """Bars on a terminal, log lines elsewhere, neither with --quiet; log dicts as `describe_log` lines."""
    current = progress.mode()
    if not trainer.args.disable_tqdm:
        trainer.remove_callback(ProgressCallback)
        trainer.add_callback(_DescribedProgressCallback())
        return
    trainer.remove_callback(PrinterCallback)
    if current == "log":
        trainer.add_callback(LogProgressCallback())
