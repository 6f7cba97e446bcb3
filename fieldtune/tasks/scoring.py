"""Scoring around the Trainer: label names of a dataset, standardised regression targets and back, and the
Trainer's `compute_metrics`. How each kind of target is batched, decoded and scored lives in
`fieldtune.targets` (`Task.targets`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from fieldtune.targets.arrays import as_array
from fieldtune.tasks.table import Task


def label_names_of(feature: Any) -> list[str] | None:
    """The label names of a dataset's `label` feature: a ClassLabel, or a Sequence of one (tags)."""
    names = getattr(feature, "names", None) or getattr(getattr(feature, "feature", None), "names", None)
    return list(names) if names else None


def standardise(dd: Any) -> tuple[Any, tuple[float, float]]:
    """Regression trains on targets standardised by the train split's mean and std; `real_units` maps
    predictions back, and `modeling.heads.fold_target_scale` folds the scale into the saved head."""
    y = np.asarray(dd["train"]["label"], dtype=np.float64)
    mean, std = float(y.mean()), float(y.std()) or 1.0
    # only the label column is read: an image dataset's pictures are not decoded for it
    scaled = dd.map(lambda y: {"label": [(v - mean) / std for v in y]}, batched=True, input_columns="label")
    return scaled, (mean, std)


def real_units(values: Any, target_scale: tuple[float, float] | None) -> np.ndarray:
    """Standardised training targets (or outputs) back in the data's units."""
    mean, std = target_scale or (0.0, 1.0)
    return np.asarray(values, dtype=np.float64) * std + mean


def make_compute_metrics(
    task: Task, label_names: list[str] | None, target_scale: tuple[float, float] | None
) -> Callable:
    """`compute_metrics` for `Trainer`: outputs -> scalar scores (standardised targets back in real units)."""
    targets = task.targets

    def compute_metrics(eval_pred: Any) -> dict:
        logits, labels = as_array(eval_pred.predictions), eval_pred.label_ids
        if target_scale is not None:
            logits, labels = real_units(logits, target_scale), real_units(labels, target_scale)
        return targets.trainer_scores(logits, labels, label_names)

    return compute_metrics
