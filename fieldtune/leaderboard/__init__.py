"""Rank fine-tuned runs and Hub models per (task, dataset, split): collect -> rank -> render.

- `collect`: run directories (`eval_results.json`) and Hub model cards (`model-index`) -> `Entry`
- `rank`: entries -> one ranked `Board` per (task, dataset, split)
- `render`: boards -> terminal text, `leaderboard.{csv,md,png,html}`
- `benchmark`: evaluate models on a `BenchmarkSpec` (cached) -> more entries, passed as `extra_entries`

Example:
    >>> boards, text = build_leaderboard([Path("runs/a"), Path("runs/b")], ["org/bert-demand"], Path("lb"))
    >>> print(text)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from fieldtune.errors import FieldtuneError
from fieldtune.leaderboard.collect import Entry, entries_from_card, entries_from_hub, entry_from_run
from fieldtune.leaderboard.rank import Board, Row, group_and_rank
from fieldtune.leaderboard.render import render_terminal, write_outputs

__all__ = [
    "Board",
    "Entry",
    "Row",
    "build_leaderboard",
    "entries_from_card",
    "entries_from_hub",
    "entry_from_run",
    "group_and_rank",
    "render_terminal",
    "write_outputs",
]


def _split_hub_ref(hub_id: str) -> tuple[str, str | None]:
    # `--hub org/name@v1` pins a revision, like pip's `pkg @ ref`; a Hub id itself never contains "@".
    repo_id, _, revision = hub_id.partition("@")
    return repo_id, revision or None


def build_leaderboard(
    run_dirs: Sequence[Path],
    hub_ids: Sequence[str],
    out_dir: Path | None = None,
    extra_entries: Iterable[Entry] = (),
) -> tuple[list[Board], str]:
    """Collect entries from runs, Hub cards and extra sources, rank them, and render them.

    Args:
        run_dirs (`Sequence[Path]`): Run directories (or `eval_results.json`-shaped files).
        hub_ids (`Sequence[str]`): Hub model ids, optionally `org/name@revision`.
        out_dir (`Path`, *optional*): When given, `leaderboard.{csv,md,png,html}` are written there.
        extra_entries (`Iterable[Entry]`, *optional*): Entries from elsewhere, e.g. `run_benchmark(...)`.

    Returns:
        `tuple[list[Board], str]`: the ranked boards and their terminal rendering.

    Raises:
        `RunDirError`, `HubError`: a source cannot be read (the first failure stops the build, so a
            leaderboard never silently misses a model the user asked for).
        `FieldtuneError`: nothing to rank.
    """
    entries = [entry_from_run(Path(run_dir)) for run_dir in run_dirs]
    for hub_id in hub_ids:
        entries += entries_from_hub(*_split_hub_ref(hub_id))
    entries += list(extra_entries)
    if not entries:
        raise FieldtuneError(
            "Nothing to rank; pass run directories, `--hub ORG/NAME`, or `--benchmark SPEC.yaml` with models."
        )
    boards = group_and_rank(entries)
    if out_dir is not None:
        write_outputs(boards, Path(out_dir))
    return boards, render_terminal(boards)
