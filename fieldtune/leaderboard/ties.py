"""Which rows of a board are 'tied with #1': a paired bootstrap of each run against the leader.

A paired test needs both runs' predictions on the same test rows: each run directory's `predictions.csv`
(input, label, predicted). Rows are matched by input and label (a repeated row by its occurrence), and
only when the two files hold the same test rows; otherwise, or when a source has no per-example
predictions (Hub cards, benchmark entries), the row gets no mark rather than a guess.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from fieldtune.evaluation.confidence import metric_draws, paired_difference, targets_of
from fieldtune.targets import Targets

logger = logging.getLogger(__name__)

INPUT_COLUMNS = ("text", "file")


def _read(path: Path | None) -> dict[tuple[str, str, int], str] | None:
    """{(input, label, occurrence): predicted} of a predictions.csv, or None when it cannot be used."""
    if path is None:
        return None
    import pandas as pd

    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError, UnicodeDecodeError) as err:
        logger.warning("Cannot read %s (%s); no paired test for it", path, err)
        return None
    column = next((c for c in INPUT_COLUMNS if c in df.columns), None)
    if column is None or not {"label", "predicted"} <= set(df.columns):
        return None
    seen: Counter = Counter()
    rows = {}
    for value, label, predicted in zip(df[column], df["label"], df["predicted"], strict=True):
        key = (value, label)
        rows[(value, label, seen[key])] = predicted
        seen[key] += 1
    return rows


def _kind(task: str) -> Targets | None:
    """The Targets of a board's task (a board stores the task's name); None for a task fieldtune lacks."""
    from fieldtune.tasks.table import TASKS

    spec = TASKS.get(task)
    return spec.targets if spec is not None else None


def compare(leader: dict, other: dict, kind: Targets | str, metric: str) -> dict[str, Any] | None:
    """Paired bootstrap of `metric(leader) - metric(other)` on shared test rows; None when not the same rows."""
    if set(leader) != set(other) or not leader:
        return None
    keys = sorted(leader)
    labels = [k[1] for k in keys]
    a, b = [leader[k] for k in keys], [other[k] for k in keys]
    targets = targets_of(kind)
    try:
        labels, a, b = (targets.read_column(col) for col in (labels, a, b))
    except ValueError:
        return None
    if metric not in metric_draws(targets, labels[:1], a[:1])(np.ones((1, 1))):
        return None  # a metric the resamples cannot score (e.g. precision_macro)
    return paired_difference(targets, labels, a, b, metric)


def mark_ties(board: Any) -> None:
    """Set `vs_leader` ("leader", "tied", "below") and `difference` on the ranked rows of `board`."""
    ranked = [row for row in board.rows if row.rank is not None]
    kind = _kind(board.task)
    if len(ranked) < 2 or kind is None:
        return
    leader = ranked[0]
    leader.vs_leader = "leader"
    leader_rows = _read(leader.entry.predictions)
    for row in ranked[1:]:
        if row.rank == leader.rank:  # the same score: tied by definition
            row.vs_leader = "tied"
            continue
        other = _read(row.entry.predictions)
        result = None
        if leader_rows is not None and other is not None:
            result = compare(leader_rows, other, kind, board.primary_metric)
        if result is not None:
            row.difference = result
            row.vs_leader = "below" if result["significant"] else "tied"
