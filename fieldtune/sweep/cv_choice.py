"""`sweep --cv K`: which trial is best, by the CV mean *and* a paired test over the out-of-fold rows.

The trials are taken in order (trial number: the grid's order, so list the simpler recipe first). The
first is the best so far; a later trial replaces it only when it has the better CV mean and a paired
bootstrap over the out-of-fold rows (`oof_predictions.csv`: every pooled row predicted once, by a model
that never saw it; the same 1000 resamples for both trials, `fieldtune.evaluation.confidence.paired_difference`)
puts the difference of the primary metric on its side of 0 at 95%. Otherwise the two are tied and the
earlier trial stays. When two trials' out-of-fold rows differ (another `data.seed` or data) or the
metric cannot be resampled, the CV means decide, as before. `best.yaml` lists every comparison.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fieldtune.evaluation.confidence import LEVEL, paired_difference, targets_of
from fieldtune.rundir.layout import OOF_FILE
from fieldtune.targets import Targets

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Candidate:
    name: str  # the trial's run name
    mean: float  # the CV mean of the primary metric (the study's value)
    run_dir: Path


def _oof(run_dir: Path) -> dict[str, list[str]] | None:
    """{row: (label, predicted)} of a trial's out-of-fold predictions, or None when unreadable."""
    import pandas as pd

    try:
        df = pd.read_csv(run_dir / OOF_FILE, dtype=str, keep_default_na=False)
    except (OSError, ValueError, UnicodeDecodeError) as err:
        logger.warning("Cannot read %s (%s); its CV mean alone is compared", run_dir / OOF_FILE, err)
        return None
    if not {"row", "label", "predicted"} <= set(df.columns):
        return None
    return {r: (label, p) for r, label, p in zip(df["row"], df["label"], df["predicted"], strict=True)}


def paired(best: Candidate, other: Candidate, kind: Targets | str, metric: str) -> dict[str, Any] | None:
    """metric(other) - metric(best) over their shared out-of-fold rows; None when they are not the same rows.

    `kind`: the task's Targets (or its name)."""
    a, b = _oof(best.run_dir), _oof(other.run_dir)
    targets = targets_of(kind)
    if not a or not b or set(a) != set(b) or metric not in targets.interval_metrics:
        return None
    rows = sorted(a, key=int)
    labels = [a[r][0] for r in rows]
    if [b[r][0] for r in rows] != labels:  # the same row numbers, other data
        return None
    before, after = [a[r][1] for r in rows], [b[r][1] for r in rows]
    labels, before, after = (targets.read_column(col) for col in (labels, before, after))
    return paired_difference(targets, labels, after, before, metric) | {"rows": len(rows)}


def choose(
    candidates: list[Candidate], kind: Targets | str, metric: str, greater_is_better: bool
) -> tuple[Candidate, list[str]]:
    """The best trial by the rule above, and one line per comparison (for best.yaml)."""
    best, lines = candidates[0], [f"{candidates[0].name} {candidates[0].mean:.4f}: the first, best so far"]
    sign = 1 if greater_is_better else -1
    for other in candidates[1:]:
        ahead = sign * (other.mean - best.mean) > 0
        test = paired(best, other, kind, metric) if ahead else None
        if test is None:
            why = "a better CV mean (no paired test: other rows)" if ahead else "no better CV mean"
            line = f"{other.name} {other.mean:.4f} vs {best.name}: {why}"
            better = ahead
        else:
            low, high = test["interval"]
            better = low > 0 if greater_is_better else high < 0
            line = (
                f"{other.name} {other.mean:.4f} vs {best.name}: out-of-fold {metric} {test['difference']:+.4f} "
                f"[{low:+.4f}, {high:+.4f}] over {test['rows']} rows, "
                + ("better" if better else "tied (the interval holds 0)")
            )
        if better:
            best = other
        lines.append(f"{line}: {best.name} is best so far")
    return best, lines


def rule(metric: str) -> str:
    return (
        f"a later trial replaces the best so far only with a better CV mean and a paired bootstrap over the "
        f"out-of-fold rows putting its {metric} difference beyond 0 ({LEVEL:.0%}); ties keep the earlier trial"
    )
