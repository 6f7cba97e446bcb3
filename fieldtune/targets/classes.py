"""One named class per example: softmax scores, argmax prediction, accuracy and macro-F1."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from fieldtune.targets.arrays import as_array, softmax
from fieldtune.targets.base import Targets
from fieldtune.targets.draws import Draws, class_draws, top_k_hits

MISSING_CLASS = -1e4  # a baseline's score for a class that train never showed (no column in the fitted model)


class Classes(Targets):
    name = "classes"
    r_drop = True
    distillation = True
    interval_metrics = ("f1_macro", "accuracy", "top_3_accuracy", "top_5_accuracy")

    def draws(
        self,
        labels: Sequence[Any],
        predicted: Sequence[Any],
        label_names: Sequence[str] | None = None,
        hits: dict[str, np.ndarray] | None = None,
    ) -> Draws:
        return class_draws(labels, predicted, hits or {})  # `hits`: the in_top_k columns of many classes

    def soft_target_loss(self, student: Any, teacher: Any, temperature: float) -> Any:
        """T^2 KL(softmax(teacher / T) || softmax(student / T)), averaged over the batch, in fp32 (Hinton et
        al. 2015, "Distilling the Knowledge in a Neural Network": T^2 keeps the soft term's gradients at the
        size of the hard one's as T changes)."""
        import torch

        log_student = torch.log_softmax(student.float() / temperature, dim=-1)
        log_teacher = torch.log_softmax(teacher.float() / temperature, dim=-1)
        kl = torch.nn.functional.kl_div(log_student, log_teacher, reduction="batchmean", log_target=True)
        return kl * temperature**2

    @staticmethod
    def label_text(refs: np.ndarray, label_names: list[str]) -> list[str]:
        return [label_names[i] for i in refs]

    def scores(self, predictions: Any, references: Any, label_names: Sequence[str] | None) -> dict:
        from fieldtune.targets.metrics import ClassificationMetrics

        return ClassificationMetrics().compute(
            predictions=predictions, references=references, label_names=label_names
        )

    def evaluate(
        self, logits: Any, references: Any, label_names: list[str] | None, thresholds: Any = None
    ) -> tuple[dict, dict]:
        """Metrics and per-example prediction columns for predictions.csv."""
        probs = softmax(as_array(logits))
        pred = probs.argmax(-1)
        columns = {"predicted": [label_names[i] for i in pred], "score": probs.max(-1).round(5)}
        hits = top_k_hits(probs, references)  # more than 5 classes: was the answer among the best k?
        metrics = self.scores(pred, references, label_names)
        metrics |= {f"top_{name[len('in_top_') :]}_accuracy": float(v.mean()) for name, v in hits.items()}
        return metrics, columns | hits

    @staticmethod
    def probabilities(logits: Any) -> np.ndarray:
        return softmax(as_array(logits))

    @staticmethod
    def averaged(logits: Sequence[Any]) -> np.ndarray:
        """Several models' logits -> the logits of their mean probabilities (softmax gives the mean back)."""
        return np.log(np.clip(np.mean([softmax(as_array(x)) for x in logits], axis=0), 1e-30, None))

    @staticmethod
    def averaged_tensors(logits: Sequence[Any]) -> tuple[Any, Any]:
        """`averaged` in torch, for the fold ensemble's ONNX graph: (its logits, the mean probabilities)."""
        import torch

        mean = torch.stack([x.float().softmax(-1) for x in logits]).mean(0)
        return mean.clamp_min(1e-30).log(), mean

    def trainer_scores(self, logits: Any, labels: Any, label_names: list[str] | None) -> dict:
        scores = self.scores(np.argmax(as_array(logits), axis=-1), labels, label_names)
        scores.pop("per_class", None)  # the Trainer logs scalars only
        return scores

    def rows(
        self, logits: np.ndarray, label_names: list[str], top_k: int, thresholds: Any = None
    ) -> list[dict]:
        """`predict` output: the top-k labels with their scores."""
        rows = []
        for p in softmax(as_array(logits)):
            order = np.argsort(-p)[: max(1, top_k)]
            row = {"label": label_names[order[0]], "score": round(float(p[order[0]]), 5)}
            for rank, j in enumerate(order[1:], start=2):
                row[f"label_{rank}"], row[f"score_{rank}"] = label_names[j], round(float(p[j]), 5)
            rows.append(row)
        return rows

    # ---------------------------------------------------------------- the TF-IDF baseline (scikit-learn)

    @staticmethod
    def baseline_model(settings: Any, class_weight: Any) -> Any:
        from sklearn.linear_model import LogisticRegression
        from sklearn.svm import LinearSVC

        if settings.classifier == "logistic_regression":
            return LogisticRegression(C=settings.C, class_weight=class_weight, max_iter=2000)
        return LinearSVC(C=settings.C, class_weight=class_weight)

    @staticmethod
    def baseline_model_name(settings: Any, class_weights: Any) -> str:
        name = "LogisticRegression" if settings.classifier == "logistic_regression" else "LinearSVC"
        return f"{name} (C={settings.C:g}{f', class weights {class_weights}' if class_weights else ''})"

    @staticmethod
    def baseline_class_weight(
        spec: Any, train_labels: list, label_names: list[str] | None, weights: list[float] | None = None
    ) -> Any:
        """`training.class_weights` as scikit-learn takes it: a weight per class id seen in train (`weights`:
        the run's own, else computed from `spec`)."""
        if spec is None:
            return None
        if weights is None and label_names:
            from fieldtune.targets.class_weights import class_weight_tensor

            weights = class_weight_tensor(spec, train_labels, label_names).tolist()
        seen = set(train_labels)
        return {i: w for i, w in enumerate(weights or []) if i in seen}

    @staticmethod
    def baseline_targets(train_labels: list, num_labels: int) -> Any:
        return train_labels

    @staticmethod
    def baseline_scores(pipeline: Any, texts: list[str], num_labels: int) -> np.ndarray:
        """Log-probabilities (logistic regression) or margins (LinearSVC), a column per class."""
        clf = pipeline[-1]
        raw = (
            pipeline.predict_log_proba(texts)
            if hasattr(clf, "predict_log_proba")
            else np.asarray(pipeline.decision_function(texts))
        )
        if raw.ndim == 1:  # a binary LinearSVC gives one margin d: softmax([-d/2, d/2]) = sigmoid(d)
            raw = np.stack([-raw / 2, raw / 2], axis=1)
        out = np.full((len(texts), num_labels), MISSING_CLASS, dtype=np.float32)
        out[:, np.asarray(clf.classes_, dtype=int)] = raw
        return out
