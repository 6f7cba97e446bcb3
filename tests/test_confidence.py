"""Bootstrap intervals and paired differences (fieldtune.evaluation.confidence) against scikit-learn's metrics."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from fieldtune.evaluation.confidence import bootstrap_intervals, metric_draws, paired_difference, top_k_hits


def _classes(n: int = 400, k: int = 6, error: float = 0.2, seed: int = 0) -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    p = np.where(rng.random(n) < error, rng.integers(0, k, n), y)
    return [f"c{i}" for i in y], [f"c{i}" for i in p]


def test_one_resample_of_every_example_is_the_plain_metric() -> None:
    labels, predicted = _classes()
    ones = np.ones((1, len(labels)))
    draws = metric_draws("classes", labels, predicted)(ones)
    assert draws["accuracy"][0] == pytest.approx(skm.accuracy_score(labels, predicted))
    assert draws["f1_macro"][0] == pytest.approx(skm.f1_score(labels, predicted, average="macro"))
    tags_true, tags_pred = ["a;b", "b", "", "c", "a"], ["a", "b", "c", "c", "a;c"]
    draws = metric_draws("tags", tags_true, tags_pred, ["a", "b", "c"])(np.ones((1, 5)))
    onehot = lambda rows: np.array([[t in r.split(";") for t in "abc"] for r in rows])  # noqa: E731
    expected = skm.f1_score(onehot(tags_true), onehot(tags_pred), average="macro", zero_division=0)
    assert draws["f1_macro"][0] == pytest.approx(expected)
    y, yhat = [1.0, 2.0, 3.5, 4.0], [1.5, 2.0, 3.0, 5.0]
    draws = metric_draws("values", y, yhat)(np.ones((1, 4)))
    assert draws["rmse"][0] == pytest.approx(np.sqrt(skm.mean_squared_error(y, yhat)))
    assert draws["r2"][0] == pytest.approx(skm.r2_score(y, yhat))


def test_intervals_are_reproducible_for_a_seed_and_contain_the_point_estimate() -> None:
    labels, predicted = _classes()
    first = bootstrap_intervals("classes", labels, predicted, seed=7)
    assert first == bootstrap_intervals("classes", labels, predicted, seed=7)
    assert first["metrics"] != bootstrap_intervals("classes", labels, predicted, seed=8)["metrics"]
    for name, point in (
        ("accuracy", skm.accuracy_score(labels, predicted)),
        ("f1_macro", skm.f1_score(labels, predicted, average="macro")),
    ):
        low, high = first["metrics"][name]
        assert low < point < high and high - low < 0.2
    assert first["level"] == 0.95 and first["resamples"] == 1000
    # a bigger test split is a narrower interval
    big = bootstrap_intervals("classes", *_classes(n=4000))
    assert np.diff(big["metrics"]["accuracy"]) < np.diff(first["metrics"]["accuracy"])


def test_paired_difference_separates_a_clearly_worse_run_and_not_a_twin() -> None:
    labels, good = _classes(error=0.1)
    twin = list(good)
    twin[0] = "c5" if twin[0] != "c5" else "c4"  # one example apart
    _, worse = _classes(error=0.4, seed=0)
    tied = paired_difference("classes", labels, good, twin, "f1_macro")
    assert not tied["significant"] and tied["interval"][0] <= 0 <= tied["interval"][1]
    apart = paired_difference("classes", labels, good, worse, "accuracy")
    assert apart["significant"] and apart["difference"] > 0.1 and apart["interval"][0] > 0


def test_top_k_only_with_more_than_five_classes() -> None:
    probs = np.array([[0.5, 0.2, 0.1, 0.1, 0.05, 0.05], [0.03, 0.07, 0.1, 0.1, 0.2, 0.5]])
    hits = top_k_hits(probs, [2, 0])
    assert hits["in_top_3"].tolist() == [1, 0] and hits["in_top_5"].tolist() == [1, 0]
    assert top_k_hits(probs[:, :5], [2, 0]) == {}
