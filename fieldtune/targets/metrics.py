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


class MultiLabelMetrics(evaluate.Metric):
    """Micro / macro / samples F1, precision and recall, subset accuracy, Hamming loss, mean average precision
    (from the scores) and per-label scores, for multi-hot predictions against multi-hot references."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description="Multi-label precision, recall, F1, subset accuracy, Hamming loss and mAP (scikit-learn).",
            citation="",
            features=datasets.Features(
                {
                    "predictions": datasets.Sequence(datasets.Value("int64")),
                    "references": datasets.Sequence(datasets.Value("int64")),
                }
            ),
        )

    def _compute(
        self,
        predictions: Sequence[Sequence[int]],
        references: Sequence[Sequence[int]],
        label_names: Sequence[str] | None = None,
        scores: Any = None,
    ) -> dict:
        y_pred, y_true = np.asarray(predictions), np.asarray(references)
        out: dict[str, Any] = {
            "subset_accuracy": float(skm.accuracy_score(y_true, y_pred)),
            "hamming_loss": float(skm.hamming_loss(y_true, y_pred)),
        }
        for avg in ("micro", "macro", "samples"):
            p, r, f, _ = skm.precision_recall_fscore_support(y_true, y_pred, average=avg, zero_division=0)
            out |= {f"f1_{avg}": float(f), f"precision_{avg}": float(p), f"recall_{avg}": float(r)}
        if scores is not None:
            present = y_true.sum(0) > 0  # average precision is undefined for a label with no positive
            out["mean_average_precision"] = (
                float(skm.average_precision_score(y_true[:, present], np.asarray(scores)[:, present]))
                if present.any()
                else 0.0
            )
        if label_names:
            p, r, f, s = skm.precision_recall_fscore_support(y_true, y_pred, zero_division=0)
            tp, fp = (y_true & y_pred).sum(0), ((1 - y_true) & y_pred).sum(0)
            fn = (y_true & (1 - y_pred)).sum(0)
            out["per_class"] = {
                name: {
                    "precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i]),
                    "tp": int(tp[i]), "fp": int(fp[i]), "fn": int(fn[i]),
                }
                for i, name in enumerate(label_names)
            }  # fmt: skip
        return out
