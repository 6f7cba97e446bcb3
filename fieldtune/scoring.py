"""How a task's targets are batched, decoded and scored: one `Targets` per kind of target.

`Task.targets` names one of `TARGETS`; trainers, results, evaluation and predict call it instead of
branching on the task. Outputs reaching these methods are already in real units (a regression head has
its target scale folded in, or `real_units` has been applied to the Trainer's standardised outputs).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from fieldtune.tasks import Task


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _as_array(logits: Any) -> np.ndarray:
    if isinstance(logits, tuple):
        logits = logits[0]
    return np.asarray(logits, dtype=np.float32)


class Classes:
    """One named class per example: softmax scores, argmax prediction, accuracy and macro-F1."""

    label_dtype = "long"

    def scores(self, predictions: Any, references: Any, label_names: Sequence[str] | None) -> dict:
        from fieldtune.metrics import ClassificationMetrics

        return ClassificationMetrics().compute(
            predictions=predictions, references=references, label_names=label_names
        )

    def evaluate(self, logits: Any, references: Any, label_names: list[str] | None) -> tuple[dict, dict]:
        """Metrics and per-example prediction columns for predictions.csv."""
        probs = softmax(_as_array(logits))
        pred = probs.argmax(-1)
        columns = {"predicted": [label_names[i] for i in pred], "score": probs.max(-1).round(5)}
        return self.scores(pred, references, label_names), columns

    def trainer_scores(self, logits: Any, labels: Any, label_names: list[str] | None) -> dict:
        scores = self.scores(np.argmax(_as_array(logits), axis=-1), labels, label_names)
        scores.pop("per_class", None)  # the Trainer logs scalars only
        return scores

    def rows(self, logits: np.ndarray, label_names: list[str], top_k: int) -> list[dict]:
        """`predict` output: the top-k labels with their scores."""
        rows = []
        for p in softmax(_as_array(logits)):
            order = np.argsort(-p)[: max(1, top_k)]
            row = {"label": label_names[order[0]], "score": round(float(p[order[0]]), 5)}
            for rank, j in enumerate(order[1:], start=2):
                row[f"label_{rank}"], row[f"score_{rank}"] = label_names[j], round(float(p[j]), 5)
            rows.append(row)
        return rows


class Values:
    """One number per example: the head's output is the prediction; MAE, RMSE, R^2."""

    label_dtype = "float32"

    def scores(self, predictions: Any, references: Any, label_names: Sequence[str] | None = None) -> dict:
        from fieldtune.metrics import RegressionMetrics

        return RegressionMetrics().compute(predictions=predictions, references=references)

    def evaluate(self, logits: Any, references: Any, label_names: list[str] | None) -> tuple[dict, dict]:
        values = _as_array(logits).reshape(-1)
        return self.scores(values, references), {"predicted": values.round(5)}

    def trainer_scores(self, logits: Any, labels: Any, label_names: list[str] | None) -> dict:
        return self.scores(_as_array(logits).reshape(-1), np.asarray(labels).reshape(-1))

    def rows(self, logits: np.ndarray, label_names: list[str] | None, top_k: int) -> list[dict]:
        return [{"value": round(float(v), 5)} for v in _as_array(logits).reshape(-1)]


TARGETS: dict[str, Classes | Values] = {"classes": Classes(), "values": Values()}


def targets_of(task: Task) -> Classes | Values:
    return TARGETS[task.targets]


def real_units(values: Any, target_scale: tuple[float, float] | None) -> np.ndarray:
    """Standardised training targets (or outputs) back in the data's units."""
    mean, std = target_scale or (0.0, 1.0)
    return np.asarray(values, dtype=np.float64) * std + mean


def make_compute_metrics(
    task: Task, label_names: list[str] | None, target_scale: tuple[float, float] | None
) -> Callable:
    """`compute_metrics` for `Trainer`: outputs -> scalar scores (standardised targets back in real units)."""
    targets = targets_of(task)

    def compute_metrics(eval_pred: Any) -> dict:
        logits, labels = _as_array(eval_pred.predictions), eval_pred.label_ids
        if target_scale is not None:
            logits, labels = real_units(logits, target_scale), real_units(labels, target_scale)
        return targets.trainer_scores(logits, labels, label_names)

    return compute_metrics
