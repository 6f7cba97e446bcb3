"""k-fold cross-validation folds over a builder's train + validation rows (`cv.folds`), seeded.

The builder's split is reused: its train and validation rows are pooled (train first, then validation, in
their order) and cut into K folds; the test split is never touched. Classes are stratified by
scikit-learn's `StratifiedKFold`, tag sets by iterative stratification (`MultilabelStratifiedKFold` from
the `iterative-stratification` package, as splits.py), numbers by a shuffled `KFold`. Fold `i` of a run is
its validation split; the other K - 1 folds are its train split.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
from datasets import ClassLabel, Dataset, DatasetDict, Sequence, concatenate_datasets

from fieldtune.config.cv_schema import CVConfig
from fieldtune.errors import DataError


def pooled(dd: DatasetDict) -> Dataset:
    """The rows cross-validation cuts: train, then validation when the builder made one."""
    parts = [dd["train"]] + ([dd["validation"]] if "validation" in dd else [])
    return concatenate_datasets(parts) if len(parts) > 1 else parts[0]


def fold_ids(rows: Dataset, k: int, seed: int, source: str = "the data") -> np.ndarray:
    """The fold (0 .. k-1) of each pooled row; the same rows, k and seed always give the same folds."""
    from sklearn.model_selection import KFold, StratifiedKFold

    feature = rows.features.get("label")
    labels = list(rows["label"])
    n = len(labels)
    if k > n:
        raise DataError(
            f"cv.folds {k}: {source} has only {n} train + validation rows; use at most {n} folds."
        )
    ids = np.empty(n, dtype=np.int64)
    dummy = np.zeros((n, 1))
    if isinstance(feature, ClassLabel):
        counts = Counter(labels)
        rarest, fewest = min(counts.items(), key=lambda kv: kv[1])
        if fewest < k:
            raise DataError(
                f"cv.folds {k}: class {feature.names[rarest]} has only {fewest} train + validation rows, so "
                f"some folds would have none; use at most {fewest} folds (cv.folds) or add examples of it."
            )
        splits = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(dummy, labels)
    elif isinstance(feature, Sequence):
        from iterstrat.ml_stratifiers import MultilabelStratifiedKFold

        multi_hot = np.zeros((n, len(feature.feature.names)), dtype=np.int64)
        for row, tags in enumerate(labels):
            multi_hot[row, tags] = 1
        splits = MultilabelStratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(
            dummy, multi_hot
        )
    else:
        splits = KFold(n_splits=k, shuffle=True, random_state=seed).split(dummy)
    for fold, (_, held) in enumerate(splits):
        ids[held] = fold
    return ids


def fold_split(dd: DatasetDict, k: int, fold: int, seed: int, source: str = "the data") -> DatasetDict:
    """`dd` with fold `fold` of its pooled train + validation rows as validation, the rest as train."""
    rows = pooled(dd)
    ids = fold_ids(rows, k, seed, source)
    out = {
        "train": rows.select(np.flatnonzero(ids != fold)),
        "validation": rows.select(np.flatnonzero(ids == fold)),
    }
    if "test" in dd:
        out["test"] = dd["test"]
    return DatasetDict(out)


@dataclass(frozen=True)
class FoldRows:
    """Where a fold's (or the refit's) splits come from: `rows.select(index[split])` is that split. The
    input caches prepare `rows` once for every fold (`inputs/text.py`, `inputs/images.py`), so no fold
    tokenises or decodes a row another fold already did."""

    rows: Dataset
    index: dict[str, np.ndarray]


def fold_rows(dd: DatasetDict, cv: CVConfig, seed: int, source: str = "the data") -> FoldRows | None:
    """The pooled rows and each split's indices into them, for a fold's run or the refit; None otherwise."""
    if cv.refit:
        rows = pooled(dd)
        return FoldRows(rows, {"train": np.arange(len(rows))})
    if cv.fold is None or cv.folds is None:
        return None
    rows = pooled(dd)
    ids = fold_ids(rows, cv.folds, seed, source)
    return FoldRows(
        rows, {"train": np.flatnonzero(ids != cv.fold), "validation": np.flatnonzero(ids == cv.fold)}
    )


def cv_split(dd: DatasetDict, cv: CVConfig, seed: int, source: str = "the data") -> DatasetDict:
    """What a run of a cross-validation trains and validates on: fold `cv.fold` validating (a fold's run),
    every pooled row training with no validation (`cv.refit`), or the builder's split as it is."""
    if cv.refit:
        return DatasetDict({"train": pooled(dd), **({"test": dd["test"]} if "test" in dd else {})})
    if cv.fold is None or cv.folds is None:
        return dd
    return fold_split(dd, cv.folds, cv.fold, seed, source)
