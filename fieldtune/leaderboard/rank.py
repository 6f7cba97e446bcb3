"""Group entries into boards, one per (task, dataset, split), and rank each board by its primary metric.

Scores are only comparable on the same data and split, so every board is ranked on its own. Equal
scores on the primary metric share a rank (competition ranking: 1, 1, 1, 4); within it the model with
fewer trainable parameters is listed first (the cheaper way to the same score).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from fieldtune.leaderboard.collect import PRIMARY_METRIC_PREFERENCE, Entry, metric_greater_is_better
from fieldtune.leaderboard.ties import mark_ties


@dataclass
class Row:
    """One entry's place on a board.

    Args:
        entry (`Entry`): The scores.
        rank (`int`, *optional*): 1 is best; equal scores share a rank.
            `None` when the entry lacks the board's primary metric.
        score (`float`, *optional*): The entry's value of the board's primary metric (`None` when unranked).
        note (`str`, *optional*): Why the row is unranked.
        vs_leader (`str`, *optional*): `"leader"` (rank 1), `"tied"` (the paired-bootstrap difference to #1 is
            not significant at 95%, or the same score), `"below"` (significantly worse); `None` when no paired
            test was possible (no per-example predictions, or other test rows).
        difference (`dict`, *optional*): The paired test: `{"difference", "interval", "significant"}`.
    """

    entry: Entry
    rank: int | None
    score: float | None = None
    note: str | None = None
    vs_leader: str | None = None
    difference: dict | None = None


@dataclass
class Board:
    """A ranked table for one (task, dataset, split).

    Args:
        task (`str`), dataset (`str`), split (`str`): The board's key.
        primary_metric (`str`): Metric the rows are ranked by.
        greater_is_better (`bool`): Direction of `primary_metric`.
        rows (`list[Row]`): Ranked rows best first, then unranked rows (rank `None`) with a note.
    """

    task: str
    dataset: str
    split: str
    primary_metric: str
    greater_is_better: bool
    rows: list[Row]

    @property
    def key(self) -> tuple[str, str, str]:
        """`(task, dataset, split)`."""
        return (self.task, self.dataset, self.split)

    @property
    def title(self) -> str:
        """Human-readable key, e.g. `text-classification / logistics_demand / test`."""
        return " / ".join(self.key)

    @property
    def direction(self) -> str:
        """`"higher"` or `"lower"`: which way is better for the primary metric."""
        return "higher" if self.greater_is_better else "lower"

    def metric_greater_is_better(self, name: str) -> bool:
        """Direction of any metric of the board: the primary's as the board ranks it, the others' by name."""
        return self.greater_is_better if name == self.primary_metric else metric_greater_is_better(name)

    @property
    def lower_is_better(self) -> list[str]:
        """The board's metrics other than the primary where smaller is better (`hamming_loss`, `mae`)."""
        return [n for n in self.metric_names[1:] if not self.metric_greater_is_better(n)]

    @property
    def metric_names(self) -> list[str]:
        """All metrics of the board: the primary first, then the usual ones, then the rest A-Z."""
        names = {name for row in self.rows for name in row.entry.metrics}
        names.discard(self.primary_metric)
        usual = [name for name in PRIMARY_METRIC_PREFERENCE if name in names]
        return [self.primary_metric, *usual, *sorted(names - set(usual))]


def _board_primary(entries: list[Entry]) -> tuple[str, bool]:
    # Sources can disagree (a run says f1_macro, a card only has accuracy): the most common declared
    # primary wins, ties go to the preference order so the choice never depends on input order.
    declared = Counter(entry.primary_metric for entry in entries if entry.primary_metric)
    if not declared:
        return "score", True
    top = max(declared.values())
    tied = sorted(name for name, count in declared.items() if count == top)
    preferred = [name for name in PRIMARY_METRIC_PREFERENCE if name in tied]
    primary = (preferred or tied)[0]
    # Direction from an entry that declared it (eval_results carries greater_is_better explicitly).
    for entry in entries:
        if entry.primary_metric == primary:
            return primary, entry.greater_is_better
    return primary, metric_greater_is_better(primary)


def rank_board(task: str, dataset: str, split: str, entries: list[Entry]) -> Board:
    """Rank the entries of one (task, dataset, split); see `group_and_rank`."""
    primary, greater = _board_primary(entries)
    scored = [e for e in entries if primary in e.metrics]
    unscored = [e for e in entries if primary not in e.metrics]

    def sort_key(entry: Entry) -> tuple[float, float]:
        value = entry.metrics[primary]
        params = entry.trainable_params if entry.trainable_params is not None else float("inf")
        return (-value if greater else value, params)

    rows: list[Row] = []
    previous = None
    for position, entry in enumerate(sorted(scored, key=sort_key), start=1):  # sorted() is stable
        score = entry.metrics[primary]
        rank = rows[-1].rank if rows and score == previous else position
        rows.append(Row(entry=entry, rank=rank, score=score))
        previous = score
    rows += [Row(entry=e, rank=None, note=f"no `{primary}` score; not ranked") for e in unscored]
    return Board(
        task=task, dataset=dataset, split=split, primary_metric=primary, greater_is_better=greater, rows=rows
    )


def group_and_rank(entries: Iterable[Entry]) -> list[Board]:
    """Group entries by (task, dataset, split) and rank each group by its primary metric.

    Args:
        entries (`Iterable[Entry]`): Entries from any source (runs, Hub cards, benchmarks).

    Returns:
        `list[Board]` sorted by key. In each board, rows are ordered best first in the direction of the
        board's primary metric; equal scores share a rank, fewer trainable params listed first (unknown
        counts last); rows
        lacking the primary metric come last with `rank=None` and a note.

    Example:
        >>> boards = group_and_rank([entry_from_run(Path("runs/a")), entry_from_run(Path("runs/b"))])
        >>> [(row.rank, row.entry.model) for row in boards[0].rows]
        [(1, 'runs/b'), (2, 'runs/a')]
    """
    groups: dict[tuple[str, str, str], list[Entry]] = {}
    for entry in entries:
        groups.setdefault((entry.task, entry.dataset, entry.split), []).append(entry)
    boards = [rank_board(*key, groups[key]) for key in sorted(groups)]
    for board in boards:
        mark_ties(board)
    return boards
