"""Label parsing shared by every builder: class names in order, numbers (regression targets), and label sets
(several labels per example).

A label set comes as a list cell (JSONL / Parquet / a Hub list column) or as one string of labels joined by
`data.label_delimiter`; a blank cell is an example with no label (kept: all negatives). The text tables,
image metadata files and Hub image datasets all go through `tag_lists` and `tag_names`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from fieldtune.errors import DataError

logger = logging.getLogger(__name__)


def label_names(values: Iterable[str]) -> list[str]:
    """The sorted distinct names; numeric class ids sort as numbers (2 before 10)."""
    uniq = set(values)
    try:
        return [str(x) for x in sorted(uniq, key=float)]
    except ValueError:
        return sorted(uniq)


def as_number(v: object) -> float | None:
    """A cell as a regression target: its float, None when it is not a number; inf / nan stay (refused)."""
    try:
        return float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def numbers(values: Sequence[object], source: str, column: str) -> list[float]:
    """One finite number per row (a regression target); a cell that is not one names its row."""
    out = []
    for i, v in enumerate(values):
        x = as_number(v)
        if x is None:
            raise DataError(
                f"{source}: row {i + 1} of column {column!r} is {v!r}, not a number; fix or drop that row."
            )
        if not math.isfinite(x):
            raise DataError(
                f"{source}: row {i + 1} of column {column!r} is {v!r}; targets must be finite numbers."
            )
        out.append(x)
    return out


def is_blank(v: object) -> bool:
    """An empty or missing cell (a list cell, even an empty one, is a label set, not a blank)."""
    if isinstance(v, str):
        return not v.strip()
    if isinstance(v, (list, tuple, np.ndarray)):
        return False
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def tag_lists(values: Sequence[object], source: str, column: str, delimiter: str) -> list[list[str]]:
    """A list cell or a delimited string per row -> sorted label lists; a blank cell -> [] (allowed)."""
    kinds = {type(v).__name__ for v in values if not is_blank(v)}
    if kinds & {"list", "ndarray", "tuple"} and kinds & {"str"}:
        raise DataError(
            f"{source}: column {column!r} mixes lists and strings; use one form (a list, or labels joined "
            f"by {delimiter!r}) in every row."
        )
    out = []
    for v in values:
        if is_blank(v):
            out.append([])
        elif isinstance(v, str):
            out.append(sorted({s.strip() for s in v.split(delimiter) if s.strip()}))
        else:
            out.append(sorted({str(s).strip() for s in v if str(s).strip()}))
    return out


def tag_names(
    tags: Mapping[str, list[list[str]]], source: str, given: Sequence[str] | None = None
) -> list[str]:
    """The label names: `given` (sorted; e.g. one 0/1 column per label), else those of train's label sets.
    A label that only validation / test has is an error (the model could never predict it); rows with no
    label are counted in the log."""
    if not any(
        row for rows in tags.values() for row in rows
    ):  # nothing to learn: scikit-learn / the loss fail
        raise DataError(
            f"{source}: no row has any label; give each example its labels (a list, or names joined by "
            "`data.label_delimiter`) in `data.label_column`, or 0/1 columns in `data.label_columns`."
        )
    names = sorted(given) if given else label_names(t for row in tags.get("train", []) for t in row)
    unknown = sorted({t for rows in tags.values() for row in rows for t in row} - set(names))
    if unknown:
        raise DataError(
            f"{source}: label(s) {', '.join(unknown[:5])} appear outside the train split but never in train; "
            "add training examples of them or drop them."
        )
    untagged = sum(not row for rows in tags.values() for row in rows)
    if untagged:
        logger.warning("%s: %d rows have no label (kept as all-negative examples)", source, untagged)
    return names
