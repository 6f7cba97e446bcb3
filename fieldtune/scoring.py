"""How a task's targets are batched, decoded and scored: one `Targets` per kind of target.

`Task.targets` names one of `TARGETS` (classes, tags, values); trainers, results, evaluation and predict call it instead of
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


class _OneTarget:
    """Defaults for one target per example (a class id or a number): references as given, no calibration."""

    calibrates = False
    lower_is_better: tuple[str, ...] = ()  # the metrics of this kind where smaller is better

    @staticmethod
    def references(labels: Any, num_labels: int) -> np.ndarray:
        return np.asarray(labels)


class Classes(_OneTarget):
    """One named class per example: softmax scores, argmax prediction, accuracy and macro-F1."""

    label_dtype = "long"

    @staticmethod
    def label_text(refs: np.ndarray, label_names: list[str]) -> list[str]:
        return [label_names[i] for i in refs]

    def scores(self, predictions: Any, references: Any, label_names: Sequence[str] | None) -> dict:
        from fieldtune.metrics import ClassificationMetrics

        return ClassificationMetrics().compute(
            predictions=predictions, references=references, label_names=label_names
        )

    def evaluate(
        self, logits: Any, references: Any, label_names: list[str] | None, thresholds: Any = None
    ) -> tuple[dict, dict]:
        """Metrics and per-example prediction columns for predictions.csv."""
        from fieldtune.confidence import top_k_hits

        probs = softmax(_as_array(logits))
        pred = probs.argmax(-1)
        columns = {"predicted": [label_names[i] for i in pred], "score": probs.max(-1).round(5)}
        hits = top_k_hits(probs, references)  # more than 5 classes: was the answer among the best k?
        metrics = self.scores(pred, references, label_names)
        metrics |= {f"top_{name[len('in_top_') :]}_accuracy": float(v.mean()) for name, v in hits.items()}
        return metrics, columns | hits

    @staticmethod
    def probabilities(logits: Any) -> np.ndarray:
        return softmax(_as_array(logits))

    @staticmethod
    def averaged(logits: Sequence[Any]) -> np.ndarray:
        """Several models' logits -> the logits of their mean probabilities (softmax gives the mean back)."""
        return np.log(np.clip(np.mean([softmax(_as_array(x)) for x in logits], axis=0), 1e-30, None))

    def trainer_scores(self, logits: Any, labels: Any, label_names: list[str] | None) -> dict:
        scores = self.scores(np.argmax(_as_array(logits), axis=-1), labels, label_names)
        scores.pop("per_class", None)  # the Trainer logs scalars only
        return scores

    def rows(
        self, logits: np.ndarray, label_names: list[str], top_k: int, thresholds: Any = None
    ) -> list[dict]:
        """`predict` output: the top-k labels with their scores."""
        rows = []
        for p in softmax(_as_array(logits)):
            order = np.argsort(-p)[: max(1, top_k)]
            row = {"label": label_names[order[0]], "score": round(float(p[order[0]]), 5)}
            for rank, j in enumerate(order[1:], start=2):
                row[f"label_{rank}"], row[f"score_{rank}"] = label_names[j], round(float(p[j]), 5)
            rows.append(row)
        return rows


def sigmoid(logits: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-logits))


def _logit(p: Any) -> Any:
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return np.log(p / (1 - p))


# A label with fewer validation positives than this keeps the shared threshold: with a handful of positives
# its own F1-best cut-off fits those few examples and moves far from where new positives lie. Chosen on
# MaintIE's validation split alone (tune on one half, score the other, 20 random halvings): 5 per half
# (10 on the whole split) beat 1 and 3 per half for the transformer, the baseline and their mix (macro-F1
# of the mix 0.659 against 0.637 tuning every label); benchmarks/RESULTS.md, issue 34.
MIN_POSITIVES_TO_TUNE = 10


def _best_cut(scores: np.ndarray, references: np.ndarray) -> float:
    """The score cut-off with the best F1 of `references` (0/1) over `scores`, midway (in logit space)
    between the lowest score it keeps and the highest score below it, not at the edge."""
    from sklearn.metrics import precision_recall_curve

    precision, recall, cuts = precision_recall_curve(references, scores)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    cut = float(cuts[int(np.argmax(f1[:-1]))])
    below = scores[scores < cut]
    if below.size:
        cut = float(sigmoid((_logit(cut) + _logit(float(below.max()))) / 2))
    return round(cut, 5)


def shared_threshold(scores: np.ndarray, references: np.ndarray) -> float:
    """One cut-off for every label: the best micro-F1 over all (example, label) decisions pooled; 0.5
    without any positive."""
    if references.sum() == 0:
        return 0.5
    return _best_cut(np.asarray(scores).reshape(-1), np.asarray(references).reshape(-1))


def too_few_to_tune(references: np.ndarray, min_positives: int = MIN_POSITIVES_TO_TUNE) -> list[int]:
    """The labels (column indices) with fewer positives than `min_positives` in `references`."""
    return [int(j) for j in np.flatnonzero(np.asarray(references).sum(axis=0) < min_positives)]


def tune_thresholds(
    scores: np.ndarray, references: np.ndarray, min_positives: int = MIN_POSITIVES_TO_TUNE
) -> list[float]:
    """Per label, a score cut-off that maximises that label's F1 on held-out data; a label with fewer than
    `min_positives` positives there keeps the shared cut-off (`shared_threshold`): too few to tune on.

    Every cut-off between the lowest score the best F1 keeps and the highest score below it gives that F1;
    the one midway between them (in logit space) is taken, not the edge. A validation split that separates
    a label perfectly would otherwise put its threshold at its lowest positive's score (seen: 0.97-0.99 on
    cargo_tags), and test positives just below it were missed (macro-F1 0.979 against 1.0 at 0.5)."""
    rare = set(too_few_to_tune(references, min_positives))
    shared = shared_threshold(scores, references) if rare else 0.5
    return [
        shared if j in rare else _best_cut(scores[:, j], references[:, j]) for j in range(references.shape[1])
    ]


class Tags:
    """A set of labels per example (multi-hot): sigmoid scores, one threshold per label, macro-F1."""

    label_dtype = "float32"
    calibrates = True  # thresholds are tuned on the validation split after training
    lower_is_better = ("hamming_loss",)  # the share of wrong label decisions

    @staticmethod
    def references(labels: Any, num_labels: int) -> np.ndarray:
        """Label-id lists (the dataset's Sequence(ClassLabel)) -> a multi-hot matrix."""
        out = np.zeros((len(labels), num_labels), dtype=np.int64)
        for i, ids in enumerate(labels):
            out[i, list(ids)] = 1
        return out

    @staticmethod
    def label_text(refs: np.ndarray, label_names: list[str]) -> list[str]:
        return [";".join(label_names[j] for j in np.flatnonzero(row)) for row in refs]

    @staticmethod
    def probabilities(logits: Any) -> np.ndarray:
        return sigmoid(_as_array(logits))

    @staticmethod
    def averaged(logits: Sequence[Any]) -> np.ndarray:
        """Several models' logits -> the logits of each label's mean probability."""
        return _logit(np.mean([sigmoid(_as_array(x)) for x in logits], axis=0))

    def decide(self, logits: Any, thresholds: Sequence[float] | None) -> tuple[np.ndarray, np.ndarray]:
        scores = sigmoid(_as_array(logits))
        cut = np.asarray(thresholds if thresholds is not None else [0.5] * scores.shape[1])
        return scores, (scores >= cut).astype(np.int64)

    def scores(
        self, predictions: Any, references: Any, label_names: Sequence[str] | None, scores: Any = None
    ) -> dict:
        from fieldtune.metrics import MultiLabelMetrics

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
        scores, refs = sigmoid(_as_array(logits)), np.asarray(references)
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


class Values(_OneTarget):
    """One number per example: the head's output is the prediction; MAE, RMSE, R^2."""

    label_dtype = "float32"
    lower_is_better = ("mae", "rmse")

    @staticmethod
    def label_text(refs: np.ndarray, label_names: list[str] | None) -> np.ndarray:
        return np.asarray(refs, dtype=np.float64).round(5)

    def scores(self, predictions: Any, references: Any, label_names: Sequence[str] | None = None) -> dict:
        from fieldtune.metrics import RegressionMetrics

        return RegressionMetrics().compute(predictions=predictions, references=references)

    def evaluate(
        self, logits: Any, references: Any, label_names: list[str] | None, thresholds: Any = None
    ) -> tuple[dict, dict]:
        values = _as_array(logits).reshape(-1)
        return self.scores(values, references), {"predicted": values.round(5)}

    @staticmethod
    def probabilities(logits: Any) -> np.ndarray:  # a number has no probability: the value itself
        return _as_array(logits).reshape(-1, 1)

    @staticmethod
    def averaged(logits: Sequence[Any]) -> np.ndarray:
        return np.mean([_as_array(x) for x in logits], axis=0)

    def trainer_scores(self, logits: Any, labels: Any, label_names: list[str] | None) -> dict:
        return self.scores(_as_array(logits).reshape(-1), np.asarray(labels).reshape(-1))

    def rows(
        self, logits: np.ndarray, label_names: list[str] | None, top_k: int, thresholds: Any = None
    ) -> list[dict]:
        return [{"value": round(float(v), 5)} for v in _as_array(logits).reshape(-1)]


TARGETS: dict[str, Classes | Tags | Values] = {"classes": Classes(), "tags": Tags(), "values": Values()}
# Every metric fieldtune reports where smaller is better, read from the kinds of target that report them.
LOWER_IS_BETTER = frozenset(name for targets in TARGETS.values() for name in targets.lower_is_better)


def label_names_of(feature: Any) -> list[str] | None:
    """The label names of a dataset's `label` feature: a ClassLabel, or a Sequence of one (tags)."""
    names = getattr(feature, "names", None) or getattr(getattr(feature, "feature", None), "names", None)
    return list(names) if names else None


def targets_of(task: Task) -> Classes | Tags | Values:
    return TARGETS[task.targets]


def standardise(dd: Any) -> tuple[Any, tuple[float, float]]:
    """Regression trains on targets standardised by the train split's mean and std; `real_units` maps
    predictions back, and `modeling.heads.fold_target_scale` folds the scale into the saved head."""
    y = np.asarray(dd["train"]["label"], dtype=np.float64)
    mean, std = float(y.mean()), float(y.std()) or 1.0
    return dd.map(lambda b: {"label": [(v - mean) / std for v in b["label"]]}, batched=True), (mean, std)


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
