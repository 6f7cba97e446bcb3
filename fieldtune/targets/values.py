"""One number per example: float labels, the head's output is the prediction, MAE / RMSE / R^2."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from fieldtune.targets.arrays import as_array
from fieldtune.targets.base import Targets
from fieldtune.targets.draws import Draws, value_draws


class Values(Targets):
    """One number per example: the head's output is the prediction; MAE, RMSE, R^2."""

    name = "values"
    label_dtype = "float32"
    named = False
    scaled = True
    lower_is_better = ("mae", "rmse")
    metric_range = None
    plot = "predicted_vs_true"
    class_weights = False
    label_smoothing = False  # smooths class targets
    baseline_ensemble = False
    baseline_classifiers = ("ridge",)
    onnx_decoding = "values = logits[:, 0]  # real units: the target scale is folded into the head"
    ensemble_output = "values"
    fold_score = ""  # the numbers themselves are averaged
    interval_metrics = ("rmse", "mae", "r2")

    @staticmethod
    def read_column(values: Sequence[str]) -> list[Any]:
        return [float(v) for v in values]  # ValueError: not a column of numbers

    def draws(
        self,
        labels: Sequence[Any],
        predicted: Sequence[Any],
        label_names: Sequence[str] | None = None,
        hits: dict[str, np.ndarray] | None = None,
    ) -> Draws:
        return value_draws(labels, predicted)

    def head_labels(self, label_names: list[str] | None) -> dict[str, Any]:
        return {"num_labels": 1, "id2label": {0: "value"}, "label2id": {"value": 0}}

    @staticmethod
    def view_scores(logits: Any) -> Any:
        return logits.float()  # views are averaged as numbers

    @staticmethod
    def view_logits(mean: Any) -> Any:
        return mean

    @staticmethod
    def label_text(refs: np.ndarray, label_names: list[str] | None) -> np.ndarray:
        return np.asarray(refs, dtype=np.float64).round(5)

    def scores(self, predictions: Any, references: Any, label_names: Sequence[str] | None = None) -> dict:
        from fieldtune.targets.metrics import RegressionMetrics

        return RegressionMetrics().compute(predictions=predictions, references=references)

    def evaluate(
        self, logits: Any, references: Any, label_names: list[str] | None, thresholds: Any = None
    ) -> tuple[dict, dict]:
        values = as_array(logits).reshape(-1)
        return self.scores(values, references), {"predicted": values.round(5)}

    @staticmethod
    def probabilities(logits: Any) -> np.ndarray:  # a number has no probability: the value itself
        return as_array(logits).reshape(-1, 1)

    @staticmethod
    def averaged(logits: Sequence[Any]) -> np.ndarray:
        return np.mean([as_array(x) for x in logits], axis=0)

    @staticmethod
    def averaged_tensors(logits: Sequence[Any]) -> tuple[Any, Any]:
        """`averaged` in torch, for the fold ensemble's ONNX graph: (its logits, the mean: the same numbers)."""
        import torch

        mean = torch.stack([x.float() for x in logits]).mean(0)
        return mean, mean

    def trainer_scores(self, logits: Any, labels: Any, label_names: list[str] | None) -> dict:
        return self.scores(as_array(logits).reshape(-1), np.asarray(labels).reshape(-1))

    def rows(
        self, logits: np.ndarray, label_names: list[str] | None, top_k: int, thresholds: Any = None
    ) -> list[dict]:
        return [{"value": round(float(v), 5)} for v in as_array(logits).reshape(-1)]

    # ---------------------------------------------------------------- the TF-IDF baseline (scikit-learn)

    @staticmethod
    def baseline_model(settings: Any, class_weight: Any) -> Any:
        from sklearn.linear_model import Ridge

        return Ridge(alpha=settings.alpha)

    @staticmethod
    def baseline_model_name(settings: Any, class_weights: Any) -> str:
        return f"Ridge (alpha={settings.alpha:g})"

    @staticmethod
    def baseline_class_weight(
        spec: Any, train_labels: list, label_names: list[str] | None, weights: list[float] | None = None
    ) -> None:
        return None  # config/rules.py refuses class weights for numbers

    @staticmethod
    def baseline_targets(train_labels: list, num_labels: int) -> Any:
        return train_labels

    @staticmethod
    def baseline_scores(pipeline: Any, texts: list[str], num_labels: int) -> np.ndarray:
        return np.asarray(pipeline.predict(texts), dtype=np.float32).reshape(-1, 1)
