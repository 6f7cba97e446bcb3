"""The `cv:` section of a recipe: k-fold cross-validation (`fieldtune train RECIPE --cv K`).

Kept beside schema.py (same field style: a default, a help text, a check) so the schema stays readable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from fieldtune.config.checks import _f


def _two_or_more(v: Any) -> str | None:
    return None if v is None or v >= 2 else "must be 2 or more folds"


def _fold_index(v: Any) -> str | None:
    return None if v is None or v >= 0 else "must be a fold number from 0 to cv.folds - 1"


@dataclass
class CVConfig:
    folds: int | None = _f(
        None,
        "k-fold cross-validation: the train + validation rows are cut into K stratified folds (seeded by"
        " `data.seed`; the test split untouched) and K runs train, each validated on its held-out fold.",
        check=_two_or_more,
    )
    fold: int | None = _f(
        None,
        "The fold this run validates on (0 .. K-1); set by `fieldtune train --cv K` in each fold's run.",
        check=_fold_index,
    )
    refit: bool = _f(
        False,
        "This run trains on all train + validation rows, with no validation split (the refit of"
        " `cv.final: refit`, set by `fieldtune train --cv K`).",
    )
    final: Literal["ensemble", "refit"] = _f(
        "ensemble",
        "The model that scores the test split once: ensemble = the K fold models' probabilities averaged;"
        " refit = one model trained on all train + validation rows for the folds' mean best epoch count.",
    )
