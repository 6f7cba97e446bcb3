"""Metrics as local `evaluate` modules backed by scikit-learn (no Hub download, works offline).

`evaluate.load("accuracy")` fetches a script from the Hub; these modules are instantiated directly,
so `evaluate.combine`, the results format and `evaluate.push_to_hub` stay available offline.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import datasets
import evaluate
import numpy as np
from sklearn import metrics as skm


class ClassificationMetrics(evaluate.Metric):
    """accuracy, macro precision / recall / F1, and per-class scores (when `label_names` are given)."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description="Accuracy and macro-averaged precision, recall and F1 (scikit-learn).",
            citation="",
            features=datasets.Features(
                {"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}
            ),
        )

    def _compute(
        self, predictions: Sequence[int], references: Sequence[int], label_names: Sequence[str] | None = None
    ) -> dict:
        y_pred, y_true = np.asarray(predictions), np.asarray(references)
        labels = list(range(len(label_names))) if label_names else sorted(set(y_true) | set(y_pred))
        p, r, f, s = skm.precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
        present = s > 0  # macro averages over classes present in the references, as sklearn's default does
        out: dict[str, Any] = {
            "accuracy": float(skm.accuracy_score(y_true, y_pred)),
            "f1_macro": float(f[present].mean()) if present.any() else 0.0,
            "precision_macro": float(p[present].mean()) if present.any() else 0.0,
            "recall_macro": float(r[present].mean()) if present.any() else 0.0,
        }
        if label_names:
            out["per_class"] = {
                name: {
                    "precision": float(p[i]),
                    "recall": float(r[i]),
                    "f1": float(f[i]),
                    "support": int(s[i]),
                }
                for i, name in enumerate(label_names)
            }
        return out


class RegressionMetrics(evaluate.Metric):
    """mae, rmse, r2 (scikit-learn)."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description="Mean absolute error, root mean squared error and R^2 (scikit-learn).",
            citation="",
            features=datasets.Features(
                {"predictions": datasets.Value("float64"), "references": datasets.Value("float64")}
            ),
        )

    def _compute(self, predictions: Sequence[float], references: Sequence[float]) -> dict:
        y_pred, y_true = np.asarray(predictions, dtype=float), np.asarray(references, dtype=float)
        r2 = skm.r2_score(y_true, y_pred) if len(y_true) > 1 else float("nan")
        return {
            "mae": float(skm.mean_absolute_error(y_true, y_pred)),
            "rmse": float(np.sqrt(skm.mean_squared_error(y_true, y_pred))),
            "r2": float(r2),
        }
