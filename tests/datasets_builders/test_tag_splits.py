"""Multi-label splits: iterative stratification keeps each label's share of positives across the splits."""

from __future__ import annotations

import numpy as np
import pytest
from datasets import ClassLabel, Dataset, DatasetDict, Features, Sequence, Value

from fieldtune.datasets_builders.splits import split_dataset
from fieldtune.errors import DataError

NAMES = [f"t{i}" for i in range(8)]


def skewed_tags(n: int = 400, seed: int = 0) -> Dataset:
    """Eight labels from common (45%) to rare (2%), several per row, some rows untagged."""
    rng = np.random.default_rng(seed)
    rates = np.array([0.45, 0.3, 0.2, 0.12, 0.08, 0.05, 0.03, 0.02])
    hot = rng.random((n, len(rates))) < rates
    hot[:, 7] = False
    hot[rng.choice(n, 8, replace=False), 7] = True  # exactly 8 positives of the rarest label
    labels = [np.flatnonzero(row).tolist() for row in hot]
    features = Features({"text": Value("string"), "label": Sequence(ClassLabel(names=NAMES))})
    return Dataset.from_dict({"text": [f"row {i}" for i in range(n)], "label": labels}, features=features)


def proportions(ds: Dataset) -> np.ndarray:
    hot = np.zeros((len(ds), len(NAMES)))
    for i, ids in enumerate(ds["label"]):
        hot[i, ids] = 1
    return hot.mean(0)


def worst_gap(dd) -> float:
    """The largest gap, over labels and splits, between a split's share of positives and train's."""
    train = proportions(dd["train"])
    return max(float(np.abs(proportions(dd[s]) - train).max()) for s in ("validation", "test"))


def random_split(ds: Dataset, seed: int) -> dict:
    order = np.random.default_rng(seed).permutation(len(ds))
    n_test, n_val = round(0.2 * len(ds)), round(0.1 * len(ds))
    return {
        "test": ds.select(order[:n_test]),
        "validation": ds.select(order[n_test : n_test + n_val]),
        "train": ds.select(order[n_test + n_val :]),
    }


def test_iterative_stratification_beats_a_random_split_on_skewed_labels():
    ds = skewed_tags()
    dd = split_dataset(ds, 0.1, 0.2, seed=0, source="tags")
    assert {s: len(dd[s]) for s in dd} == {"train": 280, "validation": 40, "test": 80}
    stratified = worst_gap(dd)
    randoms = [worst_gap(random_split(ds, seed)) for seed in range(5)]
    assert stratified < 0.03 and stratified < min(randoms) / 2, (stratified, randoms)
    for split in dd.values():  # the rarest label (8 positives) reaches every split
        assert any(7 in ids for ids in split["label"])
    again = split_dataset(ds, 0.1, 0.2, seed=0, source="tags")
    assert again["test"]["text"] == dd["test"]["text"]  # seeded: the same split every time


def test_a_label_too_rare_for_the_split_is_a_warning_naming_it(caplog):
    ds = skewed_tags(n=100)
    labels = [[i for i in ids if i != 6] for ids in ds["label"]]
    labels[0] = sorted(set(labels[0]) | {6})  # t6: one positive, it cannot be in train and a held split
    ds = Dataset.from_dict({"text": ds["text"], "label": labels}, features=ds.features)
    with caplog.at_level("WARNING"):
        dd = split_dataset(ds, 0.0, 0.2, seed=0, source="tags")
    assert "too few positives for a test split" in caplog.text and "t6 (1)" in caplog.text
    assert "t0 (" not in caplog.text.split("too few positives")[1].splitlines()[0]
    assert any(6 in ids for ids in dd["train"]["label"])  # the lone example stays in train


def test_a_label_that_never_reaches_train_is_an_error():
    ds = skewed_tags(n=60)
    features = ds.features
    test = Dataset.from_dict({"text": ["x"], "label": [[7]]}, features=features)
    train = ds.map(lambda row: {"label": [i for i in row["label"] if i != 7]})
    with pytest.raises(DataError, match="t7 have no example left in the train split"):
        split_dataset(DatasetDict({"train": train, "test": test}), 0.1, 0.0, seed=0, source="tags")
