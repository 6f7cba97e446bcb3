"""Each kind of target's metrics on bootstrap resamples, as weighted sums (`fieldtune.evaluation.confidence` draws them).

A resample is a weight vector `w` (how often each test example is drawn), so a metric of 1000 resamples is
a few matrix products. The builders take per-example references and predictions as `predictions.csv`
holds them; `Targets.draws` picks the builder of its kind.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

Draws = Callable[[np.ndarray], dict[str, np.ndarray]]


def _f1(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    denominator = 2 * tp + fp + fn
    return np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)


def class_draws(labels: Sequence[Any], predicted: Sequence[Any], hits: dict[str, np.ndarray]) -> Draws:
    names = sorted({str(v) for v in labels} | {str(v) for v in predicted})
    index = {name: i for i, name in enumerate(names)}
    y = np.asarray([index[str(v)] for v in labels])
    p = np.asarray([index[str(v)] for v in predicted])
    true = np.eye(len(names))[y]  # (n, k) one-hot references
    pred = np.eye(len(names))[p]
    correct = (y == p).astype(np.float64)

    def draws(w: np.ndarray) -> dict[str, np.ndarray]:
        n = w.sum(axis=1)
        support = w @ true  # (B, k)
        tp = w @ (true * correct[:, None])
        fp, fn = w @ pred - tp, support - tp
        present = support > 0  # macro over classes present in the references, as ClassificationMetrics does
        out = {
            "accuracy": (w @ correct) / n,
            "f1_macro": (_f1(tp, fp, fn) * present).sum(1) / np.maximum(present.sum(1), 1),
        }
        return out | {name: (w @ hit) / n for name, hit in hits.items()}

    return draws


def _split_tags(value: Any, delimiter: str) -> set[str]:
    if isinstance(value, (set, list, tuple)):
        return {str(v) for v in value}
    text = "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)
    return {part for part in text.split(delimiter) if part}


def tag_draws(
    labels: Sequence[Any], predicted: Sequence[Any], label_names: Sequence[str] | None, delimiter: str = ";"
) -> Draws:
    true_sets = [_split_tags(v, delimiter) for v in labels]
    pred_sets = [_split_tags(v, delimiter) for v in predicted]
    names = list(label_names or sorted(set().union(*true_sets, *pred_sets)))
    index = {name: j for j, name in enumerate(names)}
    true = np.zeros((len(true_sets), len(names)))
    pred = np.zeros_like(true)
    for i, (ts, ps) in enumerate(zip(true_sets, pred_sets, strict=True)):
        true[i, [index[t] for t in ts if t in index]] = 1
        pred[i, [index[t] for t in ps if t in index]] = 1
    both = true * pred
    exact = (true == pred).all(axis=1).astype(np.float64)

    def draws(w: np.ndarray) -> dict[str, np.ndarray]:
        tp, fp, fn = w @ both, w @ (pred - both), w @ (true - both)
        return {
            "f1_macro": _f1(tp, fp, fn).mean(axis=1) if names else np.zeros(len(w)),
            "f1_micro": _f1(tp.sum(1), fp.sum(1), fn.sum(1)),
            "subset_accuracy": (w @ exact) / w.sum(axis=1),
        }

    return draws


def value_draws(labels: Sequence[Any], predicted: Sequence[Any]) -> Draws:
    y = np.asarray(labels, dtype=np.float64)
    err = np.asarray(predicted, dtype=np.float64) - y

    def draws(w: np.ndarray) -> dict[str, np.ndarray]:
        n = w.sum(axis=1)
        sse = w @ (err**2)
        sst = w @ (y**2) - (w @ y) ** 2 / n  # weighted sum of squares about the resample's mean
        r2 = np.divide(sse, sst, out=np.full_like(sse, np.nan), where=sst > 0)
        return {"rmse": np.sqrt(sse / n), "mae": (w @ np.abs(err)) / n, "r2": 1.0 - r2}

    return draws


TOP_K = (3, 5)
HIT_PREFIX = "in_top_"  # predictions.csv column: 1 when the reference is among the k best-scored classes


def top_k_hits(probs: np.ndarray, references: Any) -> dict[str, np.ndarray]:
    """Per example, `in_top_k` (k = 3, 5): the reference is among the k highest scores. Only with more
    than 5 classes: with fewer, top-5 is always right and top-3 says little (customs brokers pick from 3 of 21)."""
    if probs.ndim != 2 or probs.shape[1] <= max(TOP_K):
        return {}
    order = np.argsort(-probs, axis=1)
    refs = np.asarray(references).reshape(-1, 1)
    return {f"{HIT_PREFIX}{k}": (order[:, :k] == refs).any(axis=1).astype(np.int64) for k in TOP_K}
