"""Knowledge distillation (`distill:`; Hinton et al., 2015, "Distilling the Knowledge in a Neural Network").

A finished fieldtune run, the teacher, predicts every training row of this run once, before training: it is
loaded as `fieldtune predict` loads it (`inference.load.load_for_inference`; the fine-tuned model without a
baseline half it was mixed with) and reads the raw training texts with its own tokenizer, text
normalisation and `model.max_length`, so teacher and student may differ in both. Its logits, columns put in the student's label order, become the `teacher_logits` column of the
training split; the text collator hands them to `FieldTrainer.compute_loss` with each batch, which mixes

    loss = (1 - alpha) * hard + alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T))

where `hard` is the loss the run has without distillation (the head's own, or class weights / label
smoothing / R-Drop) and the soft term is the task's `Targets.soft_target_loss`. Evaluation and test see
no teacher: only the training split has the column.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from fieldtune.config import DistillConfig
from fieldtune.errors import DataError
from fieldtune.inputs.prepare import TEACHER_COLUMN
from fieldtune.targets import Targets


@dataclass(frozen=True)
class Distillation:
    """The recipe's `distill:` weights and the targets whose soft-target loss mixes them in."""

    alpha: float
    temperature: float
    targets: Targets

    @classmethod
    def of(cls, config: DistillConfig, targets: Targets) -> Distillation | None:
        return cls(config.alpha, config.temperature, targets) if config.enabled else None

    def loss(self, hard: torch.Tensor, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        """(1 - alpha) * hard + alpha * T^2 KL(teacher || student): alpha 0 is the hard loss exactly."""
        soft = self.targets.soft_target_loss(student, teacher.to(student.device), self.temperature)
        return (1.0 - self.alpha) * hard + self.alpha * soft


def teacher_logits(
    teacher: str, task: str, texts: Sequence[str], label_names: Sequence[str], batch_size: int = 64
) -> np.ndarray:
    """The teacher run's logits of `texts`, one row per text, columns in the order of `label_names`.

    `task`: the student's (the teacher must have trained the same); a teacher that predicts another set of
    labels is refused, naming what each side has."""
    from fieldtune.inference.load import load_for_inference, predict_logits, text_batches
    from fieldtune.rundir.layout import fold_ensemble_dirs
    from fieldtune.rundir.teacher import check_teacher

    run = check_teacher(teacher, task)
    # The fine-tuned model alone: a run mixed with the TF-IDF baseline (`ensemble.baseline_weight`) would teach
    # through a baseline half that has memorised its own training rows. A CV whose final model is its folds
    # loads only as their average.
    loaded = load_for_inference(run.path, ensemble=bool(fold_ensemble_dirs(run.path)))
    have = list(loaded.label_names or [])
    if set(have) != set(label_names):
        only_teacher = sorted(set(have) - set(label_names))
        only_data = sorted(set(label_names) - set(have))
        raise DataError(
            f"`distill.teacher`: {run.path} predicts {len(have)} labels, this run's data has {len(label_names)};"
            f" only the teacher has {_names(only_teacher)}, only the data has {_names(only_data)}. Train the"
            " teacher on data with the same labels."
        )
    max_length = (run.config.get("model") or {}).get("max_length") or 512  # as the teacher trained
    batches = text_batches(loaded, list(texts), max_length, batch_size)
    logits = predict_logits(loaded, batches, desc="Teacher predicting")
    return logits[:, [have.index(name) for name in label_names]].astype(np.float32)


def add_teacher_logits(
    prepared: Any, config: DistillConfig, task: str, label_names: Sequence[str], batch_size: int = 64
) -> dict:
    """The teacher's logits of every training row as the training split's `TEACHER_COLUMN` (in place);
    returns what the run records of it (eval_results.json's `distill`, the card)."""
    from fieldtune.config.recipe_paths import absolute_if_local
    from fieldtune.rundir.reader import RunDirectory

    train = prepared.dataset["train"]
    logits = teacher_logits(config.teacher, task, train["text"], label_names, batch_size)
    prepared.dataset["train"] = train.add_column(TEACHER_COLUMN, logits.tolist())
    results = RunDirectory(config.teacher).results
    return {
        "teacher": absolute_if_local(config.teacher),  # as config.yaml records it
        "teacher_model": results.get("base_model") or results.get("model"),
        "alpha": config.alpha,
        "temperature": config.temperature,
        "rows": len(logits),
    }


def _names(labels: list[str], limit: int = 8) -> str:
    if not labels:
        return "none"
    shown = ", ".join(labels[:limit])
    return f"[{shown}{f', ... ({len(labels)} in all)' if len(labels) > limit else ''}]"
