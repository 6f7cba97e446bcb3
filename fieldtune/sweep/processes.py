"""Local worker processes for `--workers N` (sweep trials, cross-validation folds): spawned, joined, and
the exit codes of those that failed, for the caller's one-line error."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from typing import Any


def run_processes(target: Callable[..., Any], jobs: Sequence[tuple], name: str) -> list[int | None]:
    """One spawned process per argument tuple of `jobs`, all waited for; the exit codes that were not 0."""
    context = multiprocessing.get_context("spawn")  # no fork of a process that may hold torch threads
    procs = [context.Process(target=target, args=args, name=f"{name}-{i}") for i, args in enumerate(jobs)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    return [p.exitcode for p in procs if p.exitcode != 0]
