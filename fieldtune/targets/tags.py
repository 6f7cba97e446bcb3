"""A set of labels per example: multi-hot labels, sigmoid scores, per-label thresholds, macro-F1."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from fieldtune.errors import ConfigError
from fieldtune.targets.arrays import as_array, logit, sigmoid
from fieldtune.targets.base import Targets
from fieldtune.targets.class_weights import is_balanced
from fieldtune.targets.classes import Classes
from fieldtune.targets.draws import Draws, tag_draws
from fieldtune.targets.thresholds import (
    MIN_POSITIVES_TO_TUNE,
    shared_threshold,
    too_few_to_tune,
    tune_thresholds,
)


class Tags(Targets):
    """A set of labels per example (multi-hot): sigmoid scores, one threshold per label, macro-F1."""

    name = "tags"
    label_dtype = "float32"
    label_sets = True
    plot = "label_scores"
    onnx_decoding = "scores = 1 / (1 + np.exp(-logits))  # keep the labels whose score reaches config['fieldtune_thresholds']"
    fold_score = ".sigmoid()"
    calibrates = True  # thresholds are tuned on the validation split after training
    lower_is_better = ("hamming_loss",)  # the share of wrong label decisions
    interval_metrics = ("f1_macro", "f1_micro", "subset_accuracy")

    def draws(
        self,
        labels: Sequence[Any],
        predicted: Sequence[Any],
        label_names: Sequence[str] | None = None,
        hits: dict[str, np.ndarray] | None = None,
    ) -> Draws:
        return tag_draws(labels, predicted, label_names)  # `;`-joined label sets

    @staticmethod
    def references(labels: Any, num_labels: int) -> np.ndarray:
        """Label-id lists (the dataset's Sequence(ClassLabel)) -> a multi-hot matrix."""
        out = np.zeros((len(labels), num_labels), dtype=np.int64)
        for i, ids in enumerate(labels):
            out[i, list(ids)] = 1
        return out

    def label_tensor(self, labels: Sequence[Any], num_labels: int | None = None) -> Any:
        """Label-id lists (`Sequence(ClassLabel)`) -> a multi-hot float matrix (BCE with logits)."""
        import torch

        multi_hot = torch.zeros(len(labels), num_labels or 0)
        for i, ids in enumerate(labels):
            multi_hot[i, list(ids)] = 1.0
        return multi_hot

    @staticmethod
    def view_scores(logits: Any) -> Any:
        return logits.float().sigmoid()  # each label on its own

    @staticmethod
    def view_logits(mean: Any) -> Any:
        return mean.logit(eps=1e-7)  # eps: a saturated sigmoid (1.0 in float32) would give an infinite logit

    @staticmethod
    def label_text(refs: np.ndarray, label_names: list[str]) -> list[str]:
        return [";".join(label_names[j] for j in np.flatnonzero(row)) for row in refs]

    @staticmethod
    def probabilities(logits: Any) -> np.ndarray:
        return sigmoid(as_array(logits))

    @staticmethod
    def averaged(logits: Sequence[Any]) -> np.ndarray:
        """Several models' logits -> the logits of each label's mean probability."""
        return logit(np.mean([sigmoid(as_array(x)) for x in logits], axis=0))

    @staticmethod
    def averaged_tensors(logits: Sequence[Any]) -> tuple[Any, Any]:
        """`averaged` in torch, for the fold ensemble's ONNX graph: (its logits, each label's mean probability)."""
        import torch

        mean = torch.stack([x.float().sigmoid() for x in logits]).mean(0)
        p = mean.clamp(1e-7, 1 - 1e-7)  # as `arrays.logit`
        return (p / (1 - p)).log(), mean

    def decide(self, logits: Any, thresholds: Sequence[float] | None) -> tuple[np.ndarray, np.ndarray]:
        scores = sigmoid(as_array(logits))
        cut = np.asarray(thresholds if thresholds is not None else [0.5] * scores.shape[1])
        return scores, (scores >= cut).astype(np.int64)

    def scores(
        self, predictions: Any, references: Any, label_names: Sequence[str] | None, scores: Any = None
    ) -> dict:
        from fieldtune.targets.metrics import MultiLabelMetrics

        return MultiLabelMetrics().compute(
            predictions=predictions, references=references, label_names=label_names, scores=scores
        )

    def evaluate(
        self, logits: Any, references: Any, label_names: list[str] | None, thresholds: Any = None
    ) -> tuple[dict, dict]:
        scores, pred = self.decide(logits, thresholds)
        refs = np.asarray(references)
        columns = {"predicted": [";".join(label_names[j] for j in np.flatnonzero(row)) for row in pred]}
        columns |= {f"score_{name}": scores[:, j].round(5) for j, name in enumerate(label_names or [])}
        return self.scores(pred, refs, label_names, scores), columns

    def trainer_scores(self, logits: Any, labels: Any, label_names: list[str] | None) -> dict:
        scores, pred = self.decide(logits, None)
        out = self.scores(pred, np.asarray(labels).round().astype(np.int64), label_names, scores)
        out.pop("per_class", None)
        return out

    def calibrate(self, logits: Any, references: Any) -> dict:
        """What the saved model's config carries so that every loader decides as the run did, and which
        labels had too few validation positives to tune (they keep the shared threshold)."""
        scores, refs = sigmoid(as_array(logits)), np.asarray(references)
        rare = too_few_to_tune(refs)
        return {
            "fieldtune_thresholds": tune_thresholds(scores, refs),
            "fieldtune_untuned_thresholds": {
                "labels": rare,
                "shared": shared_threshold(scores, refs),
                "min_positives": MIN_POSITIVES_TO_TUNE,
            },
        }

    def rows(
        self, logits: np.ndarray, label_names: list[str], top_k: int, thresholds: Any = None
    ) -> list[dict]:
        """`predict` output: the label set (`;`-joined) and every label's score."""
        scores, pred = self.decide(logits, thresholds)
        return [
            {"labels": ";".join(label_names[j] for j in np.flatnonzero(p))}
            | {f"score_{name}": round(float(s[j]), 5) for j, name in enumerate(label_names)}
            for s, p in zip(scores, pred, strict=True)
        ]

    # ---------------------------------------------------------------- the TF-IDF baseline (scikit-learn)

    @staticmethod
    def baseline_model(settings: Any, class_weight: Any) -> Any:
        from sklearn.multiclass import OneVsRestClassifier

        return OneVsRestClassifier(Classes.baseline_model(settings, class_weight))  # one model per label

    @staticmethod
    def baseline_model_name(settings: Any, class_weights: Any) -> str:
        if is_balanced(class_weights):
            class_weights = "balanced"  # what `baseline_class_weight` gives every label's model
        return f"one {Classes.baseline_model_name(settings, class_weights)} per label"

    @staticmethod
    def baseline_class_weight(
        spec: Any, train_labels: list, label_names: list[str] | None, weights: list[float] | None = None
    ) -> Any:
        """One scikit-learn model cloned per label: one weighting for all, `balanced`. `balanced_sqrt` tames
        a network's BCE (a weight of 400 on a rare label swamps the others); the SVM's hinge loss with the
        plain balanced weights was the stronger baseline (MaintIE validation macro-F1 0.760 vs 0.703
        unweighted)."""
        if spec is None:
            return None
        if not is_balanced(spec):
            raise ConfigError(
                "`training.class_weights`: the text-multilabel baseline fits one model per label and takes "
                "`balanced` or `balanced_sqrt` only (positives weighted by negatives / positives of each label)."
            )
        return "balanced"

    def baseline_targets(self, train_labels: list, num_labels: int) -> Any:
        return self.references(train_labels, num_labels)

    @staticmethod
    def baseline_scores(pipeline: Any, texts: list[str], num_labels: int) -> np.ndarray:
        """Each label's margin: sigmoid >= 0.5 is the SVM's own decision (margin >= 0)."""
        return np.asarray(pipeline.decision_function(texts), dtype=np.float32).reshape(len(texts), -1)
