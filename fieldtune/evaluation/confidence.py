"""How sure a test score is: bootstrap intervals over the test examples, and paired differences of two runs.

On a 305-image test split one image is 0.33 points, so a score alone cannot tell two runs apart. Every
statistic here is computed from the per-example predictions (what `predictions.csv` holds), on resamples of
the test examples drawn as multinomial counts: a resample is a weight vector `w` (how often each example is
drawn), and a metric of the resample is a weighted sum, so 1000 resamples are a few matrix products
instead of 1000 calls into scikit-learn. Intervals are percentile intervals (seeded: the same predictions
and seed give the same interval). A paired difference applies the *same* resamples to two runs scored on
the same test rows, which is what makes a small but consistent gap significant.

Example:
    >>> ci = bootstrap_intervals("classes", ["a", "b", "a"], ["a", "b", "b"], ["f1_macro", "accuracy"])
    >>> ci["metrics"]["accuracy"]  # [low, high]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

RESAMPLES = 1000
LEVEL = 0.95
SEED = 0
METHOD = "percentile bootstrap over test examples"

# The metrics each kind of target gets an interval for (those a resample can score), best known first.
INTERVAL_METRICS = {
    "classes": ("f1_macro", "accuracy", "top_3_accuracy", "top_5_accuracy"),
    "tags": ("f1_macro", "f1_micro", "subset_accuracy"),
    "values": ("rmse", "mae", "r2"),
}

Draws = Callable[[np.ndarray], dict[str, np.ndarray]]


def resample_weights(n: int, resamples: int = RESAMPLES, seed: int = SEED) -> np.ndarray:
    """`(resamples, n)` multinomial counts: row r says how often each of the n examples is in resample r."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n, np.full(n, 1.0 / n), size=resamples).astype(np.float64)


def _f1(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    denominator = 2 * tp + fp + fn
    return np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)


def _class_draws(labels: Sequence[Any], predicted: Sequence[Any], hits: dict[str, np.ndarray]) -> Draws:
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


def _tag_draws(
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


def _value_draws(labels: Sequence[Any], predicted: Sequence[Any]) -> Draws:
    y = np.asarray(labels, dtype=np.float64)
    err = np.asarray(predicted, dtype=np.float64) - y

    def draws(w: np.ndarray) -> dict[str, np.ndarray]:
        n = w.sum(axis=1)
        sse = w @ (err**2)
        sst = w @ (y**2) - (w @ y) ** 2 / n  # weighted sum of squares about the resample's mean
        r2 = np.divide(sse, sst, out=np.full_like(sse, np.nan), where=sst > 0)
        return {"rmse": np.sqrt(sse / n), "mae": (w @ np.abs(err)) / n, "r2": 1.0 - r2}

    return draws


def metric_draws(
    kind: str,
    labels: Sequence[Any],
    predicted: Sequence[Any],
    label_names: Sequence[str] | None = None,
    hits: dict[str, np.ndarray] | None = None,
) -> Draws:
    """A function from resample weights to each metric's value on every resample.

    Args:
        kind (`str`): `Task.targets.name`: `classes`, `tags` or `values`.
        labels, predicted (`Sequence`): Per test example, the reference and the prediction as
            `predictions.csv` holds them (class names; `;`-joined label sets; numbers).
        label_names (`Sequence[str]`, *optional*): Tags: every label of the model (macro-F1 averages over all).
        hits (`dict[str, np.ndarray]`, *optional*): Classes: extra per-example 0/1 columns whose mean is a
            metric, e.g. `{"top_3_accuracy": ...}`.
    """
    if kind == "classes":
        return _class_draws(labels, predicted, hits or {})
    if kind == "tags":
        return _tag_draws(labels, predicted, label_names)
    return _value_draws(labels, predicted)


def _percentiles(values: np.ndarray, level: float) -> list[float] | None:
    values = values[np.isfinite(values)]
    if not len(values):
        return None
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return [round(float(low), 5), round(float(high), 5)]


def bootstrap_intervals(
    kind: str,
    labels: Sequence[Any],
    predicted: Sequence[Any],
    metrics: Sequence[str] | None = None,
    label_names: Sequence[str] | None = None,
    hits: dict[str, np.ndarray] | None = None,
    resamples: int = RESAMPLES,
    level: float = LEVEL,
    seed: int = SEED,
) -> dict[str, Any]:
    """Bootstrap intervals of a run's test metrics, as `eval_results.json` carries them.

    Returns:
        `dict`: `{"level", "resamples", "seed", "method", "metrics": {name: [low, high]}}`; a metric that no
        resample can score (e.g. R^2 of constant references) is left out.
    """
    draws = metric_draws(kind, labels, predicted, label_names, hits)(
        resample_weights(len(labels), resamples, seed)
    )
    wanted = metrics or INTERVAL_METRICS[kind]
    intervals = {name: _percentiles(draws[name], level) for name in wanted if name in draws}
    return {
        "level": level,
        "resamples": resamples,
        "seed": seed,
        "method": METHOD,
        "metrics": {name: ci for name, ci in intervals.items() if ci is not None},
    }


def paired_difference(
    kind: str,
    labels: Sequence[Any],
    predicted_a: Sequence[Any],
    predicted_b: Sequence[Any],
    metric: str,
    label_names: Sequence[str] | None = None,
    resamples: int = RESAMPLES,
    level: float = LEVEL,
    seed: int = SEED,
) -> dict[str, Any]:
    """Paired bootstrap of `metric(a) - metric(b)` on the same test rows (same resamples for both runs).

    Returns:
        `dict`: `{"difference": point estimate, "interval": [low, high], "significant": bool}`; the difference
        is significant when the interval excludes 0.
    """
    weights = resample_weights(len(labels), resamples, seed)
    a = metric_draws(kind, labels, predicted_a, label_names)(weights)[metric]
    b = metric_draws(kind, labels, predicted_b, label_names)(weights)[metric]
    ones = np.ones((1, len(labels)))
    point = (
        metric_draws(kind, labels, predicted_a, label_names)(ones)[metric][0]
        - metric_draws(kind, labels, predicted_b, label_names)(ones)[metric][0]
    )
    interval = _percentiles(a - b, level) or [float("nan"), float("nan")]
    return {
        "difference": round(float(point), 5),
        "interval": interval,
        "significant": bool(interval[0] > 0 or interval[1] < 0),
    }


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


def run_intervals(
    kind: str, labels: Sequence[Any], columns: dict[str, Any], label_names: Sequence[str] | None
) -> dict[str, Any]:
    """Intervals from a run's per-example columns (`predicted`, and `in_top_k` for many classes)."""
    hits = {
        f"top_{name.removeprefix(HIT_PREFIX)}_accuracy": np.asarray(values, dtype=np.float64)
        for name, values in columns.items()
        if name.startswith(HIT_PREFIX)
    }
    return bootstrap_intervals(kind, labels, columns["predicted"], label_names=label_names, hits=hits)
