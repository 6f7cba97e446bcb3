"""How sure a test score is: bootstrap intervals over the test examples, and paired differences of two runs.

On a 305-image test split one image is 0.33 points, so a score alone cannot tell two runs apart. Every
statistic here is computed from the per-example predictions (what `predictions.csv` holds), on resamples of
the test examples drawn as multinomial counts: a resample is a weight vector `w` (how often each example is
drawn), and a metric of the resample is a weighted sum, so 1000 resamples are a few matrix products
instead of 1000 calls into scikit-learn. Intervals are percentile intervals (seeded: the same predictions
and seed give the same interval). A paired difference applies the *same* resamples to two runs scored on
the same test rows, which is what makes a small but consistent gap significant.

Example:
    >>> ci = bootstrap_intervals(TARGETS["classes"], ["a", "b", "a"], ["a", "b", "b"], ["f1_macro", "accuracy"])
    >>> ci["metrics"]["accuracy"]  # [low, high]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from fieldtune.targets import TARGETS, Targets
from fieldtune.targets.draws import HIT_PREFIX, TOP_K, Draws, top_k_hits

RESAMPLES = 1000
LEVEL = 0.95
SEED = 0
METHOD = "percentile bootstrap over test examples"

__all__ = [
    "HIT_PREFIX", "TOP_K", "bootstrap_intervals", "metric_draws", "paired_difference", "resample_weights",
    "run_intervals", "targets_of", "top_k_hits",
]  # fmt: skip


def targets_of(kind: Targets | str) -> Targets:
    """The Targets object itself, or the one a stored name (`classes`, `tags`, `values`) stands for."""
    return TARGETS[kind] if isinstance(kind, str) else kind


def resample_weights(n: int, resamples: int = RESAMPLES, seed: int = SEED) -> np.ndarray:
    """`(resamples, n)` multinomial counts: row r says how often each of the n examples is in resample r."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n, np.full(n, 1.0 / n), size=resamples).astype(np.float64)


def metric_draws(
    kind: Targets | str,
    labels: Sequence[Any],
    predicted: Sequence[Any],
    label_names: Sequence[str] | None = None,
    hits: dict[str, np.ndarray] | None = None,
) -> Draws:
    """A function from resample weights to each metric's value on every resample.

    Args:
        kind (`Targets` or `str`): `Task.targets` (or its stored name: `classes`, `tags`, `values`).
        labels, predicted (`Sequence`): Per test example, the reference and the prediction as
            `predictions.csv` holds them (class names; `;`-joined label sets; numbers).
        label_names (`Sequence[str]`, *optional*): Tags: every label of the model (macro-F1 averages over all).
        hits (`dict[str, np.ndarray]`, *optional*): Classes: extra per-example 0/1 columns whose mean is a
            metric, e.g. `{"top_3_accuracy": ...}`.
    """
    return targets_of(kind).draws(labels, predicted, label_names, hits)


def _percentiles(values: np.ndarray, level: float) -> list[float] | None:
    values = values[np.isfinite(values)]
    if not len(values):
        return None
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return [round(float(low), 5), round(float(high), 5)]


def bootstrap_intervals(
    kind: Targets | str,
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
    wanted = metrics or targets_of(kind).interval_metrics
    intervals = {name: _percentiles(draws[name], level) for name in wanted if name in draws}
    return {
        "level": level,
        "resamples": resamples,
        "seed": seed,
        "method": METHOD,
        "metrics": {name: ci for name, ci in intervals.items() if ci is not None},
    }


def paired_difference(
    kind: Targets | str,
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


def run_intervals(
    kind: Targets | str, labels: Sequence[Any], columns: dict[str, Any], label_names: Sequence[str] | None
) -> dict[str, Any]:
    """Intervals from a run's per-example columns (`predicted`, and `in_top_k` for many classes)."""
    hits = {
        f"top_{name.removeprefix(HIT_PREFIX)}_accuracy": np.asarray(values, dtype=np.float64)
        for name, values in columns.items()
        if name.startswith(HIT_PREFIX)
    }
    return bootstrap_intervals(kind, labels, columns["predicted"], label_names=label_names, hits=hits)
