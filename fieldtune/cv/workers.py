"""`fieldtune train --cv K --workers N`: the folds left to train, N at a time in local processes.

Folds are independent runs, so they spread over processes as a sweep's trials do (`sweep --workers`: spawned
processes, the CLI's one-line errors, no progress bars): worker i trains the i-th, (i+N)-th, ... fold
still to train. The token and pixel caches of the pooled rows are written once by the parent before the
workers start (`warm_caches`), so no two workers decode the same rows at once. A failed worker leaves
its fold's checkpoints; `--resume` continues it (finished folds skipped), as after an interrupted CV.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fieldtune.config import RunConfig
from fieldtune.errors import ConfigError, FieldtuneError
from fieldtune.rundir.layout import FOLD_PREFIX, drop_replaced_run, is_run_dir
from fieldtune.sweep.processes import run_processes

logger = logging.getLogger(__name__)


def fold_config(config: RunConfig, fold: int) -> RunConfig:
    """Fold `fold`'s run: the recipe validated on that fold; pushing is for the CV's final model only."""
    return dataclasses.replace(
        config,
        name=f"{config.name or 'run'}-{FOLD_PREFIX}{fold}",
        cv=dataclasses.replace(config.cv, fold=fold),
        hub=dataclasses.replace(config.hub, push=False),
    )


def train_fold(
    config: RunConfig, cv_dir: Path, fold: int, callbacks: Sequence[Any] = (), replaced: Path | None = None
) -> None:
    """Train (or resume from its checkpoint) fold `fold` into `cv_dir/fold-<fold>`."""
    from fieldtune.rundir.layout import drop_replaced_on_save
    from fieldtune.training.run import run

    run_dir = cv_dir / f"{FOLD_PREFIX}{fold}"
    again = is_run_dir(run_dir)
    if run_dir.exists() and not again:  # killed before its config.yaml: nothing to resume
        shutil.rmtree(run_dir)
    if replaced is not None:  # --overwrite: the old CV goes once this fold has a checkpoint
        callbacks = [*callbacks, drop_replaced_on_save(replaced)]
    run(fold_config(config, fold), output_dir=run_dir, resume=again, callbacks=callbacks)
    drop_replaced_run(replaced)  # a finished fold (it may save no checkpoint) is worth keeping


def check_workers(workers: int) -> None:
    if workers < 1:
        raise ConfigError(f"--workers {workers}: give 1 or more worker processes.")


def warm_caches(config: RunConfig, task: Any, dd: Any) -> None:
    """Tokenise / decode the pooled rows and the test split once, before N workers would each do it."""
    from fieldtune.datasets_builders import dataset_name
    from fieldtune.datasets_builders.folds import cv_split, fold_rows
    from fieldtune.inputs.prepare import prepare_inputs
    from fieldtune.tasks.scoring import standardise

    first = fold_config(config, 0)
    pool = fold_rows(dd, first.cv, config.data.seed)
    split = cv_split(dd, first.cv, config.data.seed, dataset_name(config.data))
    if task.targets.scaled:  # as run() does, so the test split's cache key is the one the folds ask for
        split, _ = standardise(split)
    prepare_inputs(task, split, first, pool)


def _worker_main(config: RunConfig, cv_dir: Path, folds: list[int], replaced: Path | None) -> None:
    """Entry point of one fold worker: the same one-line errors as the CLI."""
    import warnings

    from fieldtune import progress
    from fieldtune.redact import install as redact_everything

    redact_everything()  # as the CLI: no password or token in a worker's log lines or tracebacks
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for category in (FutureWarning, DeprecationWarning):  # as the CLI: libraries' notices are for fieldtune
        warnings.filterwarnings("ignore", category=category)
    progress.set_quiet(True)  # N processes' bars on one terminal are noise
    try:
        for fold in folds:
            train_fold(config, cv_dir, fold, replaced=replaced)
            print(f"Fold {fold} finished: {cv_dir / f'{FOLD_PREFIX}{fold}'}", flush=True)
    except FieldtuneError as e:
        print(f"fieldtune: error: fold {fold}: {e}", file=sys.stderr)
        sys.exit(e.exit_code)


def train_in_workers(
    config: RunConfig, cv_dir: Path, folds: list[int], workers: int, replaced: Path | None
) -> None:
    """Train `folds` in `workers` spawned processes; one line when any of them failed."""
    shares = [folds[i::workers] for i in range(min(workers, len(folds)))]
    jobs = [(config, cv_dir, share, replaced) for share in shares]
    failed = run_processes(_worker_main, jobs, "cv-worker")
    if failed:
        raise FieldtuneError(
            f"{len(failed)} of {len(jobs)} fold workers failed (exit code {failed[0]}, see above); "
            f"fix the cause and run the same command with --resume to continue the CV in {cv_dir}."
        )
