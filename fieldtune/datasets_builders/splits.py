"""Stratified train / validation / test splits with a fixed seed, shared by every builder.

Classes are stratified by scikit-learn; tag sets (multi-label) by iterative stratification (Sechidis et
al., 2011, from the `iterative-stratification` package), which keeps every label's share of positives
close across the splits where a random split would leave a rare label out of one of them.
"""

from __future__ import annotations

import logging
from collections import Counter

import numpy as np
from datasets import ClassLabel, Dataset, DatasetDict, Sequence
from sklearn.model_selection import train_test_split

from fieldtune.errors import DataError

logger = logging.getLogger(__name__)


def _split_indices(labels: list | None, n: int, size: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    idx = np.arange(n)
    stratify = None
    if labels is not None:
        counts = Counter(labels)
        # sklearn refuses to stratify a class with one member; such classes go to the larger side.
        if min(counts.values()) >= 2 and round(n * size) >= len(counts):
            stratify = labels
    keep, held = train_test_split(idx, test_size=size, random_state=seed, stratify=stratify)
    return np.sort(keep), np.sort(held)


def _split_tags(
    labels: list[list[int]], num_labels: int, size: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    from iterstrat.ml_stratifiers import MultilabelStratifiedShuffleSplit

    n = len(labels)
    multi_hot = np.zeros((n, num_labels), dtype=np.int64)
    for row, ids in enumerate(labels):
        multi_hot[row, ids] = 1
    splitter = MultilabelStratifiedShuffleSplit(n_splits=1, test_size=size, random_state=seed)
    keep, held = next(splitter.split(np.zeros((n, 1)), multi_hot))
    return np.sort(keep), np.sort(held)


def _warn_rare_tags(train: Dataset, fraction: float, split: str, source: str) -> None:
    """A label with too few positives to give the held-out split one while keeping one for train."""
    names = train.features["label"].feature.names
    counts = Counter(i for ids in train["label"] for i in ids)
    rare = [
        f"{names[i]} ({counts[i]})" for i in sorted(counts) if counts[i] < 2 or counts[i] * fraction < 0.5
    ]
    if rare:
        logger.warning(
            "%s: label(s) with too few positives for a %s split (positives in brackets): %s; they may be "
            "missing from it",
            source, split, ", ".join(rare[:10]),
        )  # fmt: skip


def split_dataset(
    ds: Dataset | DatasetDict, validation_size: float, test_size: float, seed: int, source: str
) -> DatasetDict:
    """Return a `DatasetDict` with train/validation/test, carving the missing splits from train.

    Splits the data already has are kept as they are. Classification data is stratified by `label`
    (tag sets by iterative stratification).
    """
    splits = dict(ds) if isinstance(ds, DatasetDict) else {"train": ds}
    if "valid" in splits and "validation" not in splits:
        splits["validation"] = splits.pop("valid")
    if "train" not in splits:
        raise DataError(f"{source} has splits {sorted(splits)} but no `train` split; name one split train.")
    train = splits["train"]
    is_class = isinstance(train.features.get("label"), ClassLabel)
    is_tags = isinstance(train.features.get("label"), Sequence)
    for name, size in (("test", test_size), ("validation", validation_size)):
        if name in splits or size <= 0:
            continue
        if len(train) < 4:
            raise DataError(
                f"{source} has only {len(train)} training examples; at least 4 are needed to split."
            )
        # `size` is a fraction of the whole data, so the validation fraction grows as train shrinks.
        fraction = size if name == "test" else min(0.5, size / max(1e-9, 1 - test_size))
        if is_tags:
            _warn_rare_tags(train, fraction, name, source)
            names = train.features["label"].feature.names
            keep, held = _split_tags(list(train["label"]), len(names), fraction, seed)
        else:
            keep, held = _split_indices(train["label"] if is_class else None, len(train), fraction, seed)
        splits[name] = train.select(held)
        train = train.select(keep)
    splits["train"] = train
    for name in ("train", "validation", "test"):
        if name in splits and len(splits[name]) == 0:
            raise DataError(
                f"{source}: the {name} split is empty; provide more data or lower data.{name}_size."
            )
    if is_class:
        check_classes(DatasetDict(splits), source)
    elif is_tags:
        check_tags(DatasetDict(splits), source)
    return DatasetDict({k: splits[k] for k in ("train", "validation", "test") if k in splits})


def check_tags(dd: DatasetDict, source: str) -> None:
    """Multi-label: a label with no positive in train is an error; one with few positives a warning."""
    names = dd["train"].features["label"].feature.names
    counts = Counter(i for ids in dd["train"]["label"] for i in ids)
    absent = [names[i] for i in range(len(names)) if counts[i] == 0]
    if absent:
        raise DataError(
            f"{source}: label(s) {', '.join(absent[:5])} have no example left in the train split; add "
            "examples of them, lower data.validation_size / data.test_size, or drop them."
        )
    rare = [f"{names[i]} ({counts[i]})" for i in range(len(names)) if counts[i] < 3]
    if rare:
        logger.warning("%s: labels with fewer than 3 training examples: %s", source, ", ".join(rare[:10]))


def check_classes(dd: DatasetDict, source: str) -> None:
    """One class only is an error; a class missing from validation or test is a warning."""
    names = dd["train"].features["label"].names
    train_counts = Counter(dd["train"]["label"])
    if len(train_counts) < 2:
        only = names[next(iter(train_counts))] if train_counts else "none"
        raise DataError(
            f"{source}: the train split has a single class ({only}); a classifier needs at least two."
        )
    for split in ("validation", "test"):
        if split not in dd:
            continue
        unseen = sorted({names[i] for i in set(dd[split]["label"])} - {names[i] for i in train_counts})
        if unseen:
            raise DataError(
                f"{source}: class(es) {', '.join(unseen[:5])} appear in the {split} split but never in train; "
                "add training examples of them or drop them."
            )
        missing = [names[i] for i in train_counts if i not in set(dd[split]["label"])]
        if missing:
            logger.warning("%s: classes absent from the %s split: %s", source, split, ", ".join(missing[:10]))
