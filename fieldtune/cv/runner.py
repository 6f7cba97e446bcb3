"""`fieldtune train RECIPE --cv K`: K runs of `run()` under one CV directory, then the CV summary.

```
runs/<name>/                 config.yaml (the recipe, cv.folds: K), .incomplete until the summary is written
  fold-0/ ... fold-<K-1>/    normal run directories (cv.fold: i): fold i validates, the other K - 1 train
  oof_predictions.csv  cv_results.json  plots/cv_folds.png      (fieldtune.cv.summary)
  eval_results.json  predictions.csv    the final model on the test split (fieldtune.cv.final)
  refit/  model/                        with cv.final: refit
```
Cross-validation composes runs, as a sweep does: each fold is `run(config)` with `cv.fold` set, and run()
cuts its data with `datasets_builders.folds`; nothing of the training flow is forked. Running again with
`--resume` skips finished folds and resumes an interrupted one from its last checkpoint.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fieldtune.config import RunConfig, save_config
from fieldtune.cv.final import refit, score_ensemble
from fieldtune.cv.summary import fold_dir, write_summary
from fieldtune.cv.workers import check_workers, train_fold, train_in_workers, warm_caches
from fieldtune.datasets_builders import build_dataset, dataset_name
from fieldtune.datasets_builders.folds import fold_ids, pooled
from fieldtune.errors import ConfigError, RunDirError
from fieldtune.modeling.methods import get_method
from fieldtune.rundir.layout import (
    FOLD_PREFIX,
    finish_run_dir,
    restore_run_dir,
    start_run_dir,
)
from fieldtune.rundir.reader import RunDirectory
from fieldtune.tasks.table import Task, get_task
from fieldtune.training.preflight import preflight, resolve_run_dir

logger = logging.getLogger(__name__)


@dataclass
class CVResult:
    cv_dir: Path
    summary: dict[str, Any]
    trained: list[int]  # the folds this call trained or resumed; the others were finished already
    results: dict[str, Any]  # eval_results.json of the CV directory: the final model on the test split


def _finished(run_dir: Path) -> bool:
    return RunDirectory(run_dir).finished


def check_cv(config: RunConfig) -> int:
    """The recipe asks for a whole cross-validation; K."""
    if config.cv.folds is None:
        raise ConfigError("Cross-validation needs `cv.folds` (or `fieldtune train --cv K`), 2 or more.")
    if config.cv.fold is not None:
        raise ConfigError(
            f"`cv.fold: {config.cv.fold}` trains one fold; remove it to cross-validate every fold (--cv)."
        )
    return config.cv.folds


def _check_same_cv(cv_dir: Path, config: RunConfig) -> None:
    """--resume continues the CV it was started as: same folds, same split seed, same data."""
    saved = RunDirectory(cv_dir).config
    before = ((saved.get("cv") or {}).get("folds"), (saved.get("data") or {}).get("seed"))
    now = (config.cv.folds, config.data.seed)
    if before != now or (saved.get("data") or {}).get("path") != config.data.path:
        raise RunDirError(
            f"--resume: {cv_dir} is a CV with cv.folds {before[0]} and data.seed {before[1]} on "
            f"{(saved.get('data') or {}).get('path')}; resume it with the same recipe, or start a new one."
        )


def _fold_record(run_dir: Path) -> dict[str, Any]:
    results = RunDirectory(run_dir).results
    validation = results.get("validation_metrics") or {}
    return {
        "run_dir": run_dir.name,
        "best_step": validation.get("step"),
        "best_epoch": validation.get("epoch"),
    }


def run_cv(
    config: RunConfig,
    output_dir: str | Path | None = None,
    overwrite: bool = False,
    resume: bool = False,
    checked: bool = False,
    callbacks: Sequence[Any] = (),
    workers: int = 1,
) -> CVResult:
    """Cross-validate the recipe: K fold runs, then oof_predictions.csv, cv_results.json and a plot.

    `checked`: the caller already ran the preflight for this config and CV directory. `callbacks` go to
    every fold's trainer (tests stop a CV half-way with one; with `workers` > 1 they stay in this process,
    which trains no fold). `workers`: folds trained at once, in that many local processes."""
    k = check_cv(config)
    check_workers(workers)
    cv_dir = resolve_run_dir(config, output_dir)
    task: Task = get_task(config.task) if checked else preflight(config, cv_dir, overwrite, resume)
    if get_method(config.method.name).fits_baseline:
        raise ConfigError(
            f"`method.name: {config.method.name}` with cv.folds is not supported yet; cross-validate a model."
        )
    if resume:
        _check_same_cv(cv_dir, config)
    dd = build_dataset(config.data, task.name)  # the folds are checked before anything is written
    fold_ids(pooled(dd), k, config.data.seed, dataset_name(config.data))
    created = not cv_dir.exists()
    # with --overwrite, the old CV is moved aside (not deleted) until a fold has a checkpoint or has finished
    replaced = start_run_dir(cv_dir, overwrite, resume)
    trained = []
    try:
        save_config(config, cv_dir / "config.yaml")
        for fold in range(k):
            if _finished(fold_dir(cv_dir, fold)):
                logger.info("Fold %d finished already: %s", fold, fold_dir(cv_dir, fold))
            else:
                trained.append(fold)
        if workers > 1 and len(trained) > 1:
            warm_caches(config, task, dd)
            train_in_workers(config, cv_dir, trained, workers, replaced)
        else:
            for fold in trained:
                train_fold(config, cv_dir, fold, callbacks, replaced)
    except BaseException:
        if replaced is not None and replaced.is_dir():  # no fold checkpoint yet: the old CV comes back
            restore_run_dir(cv_dir, replaced)
        elif (created or replaced) and not any(cv_dir.glob(f"{FOLD_PREFIX}*")):  # nothing worth resuming
            shutil.rmtree(cv_dir, ignore_errors=True)
        raise
    runs = [_fold_record(fold_dir(cv_dir, fold)) for fold in range(k)]
    summary = write_summary(cv_dir, task, dd, k, config.data.seed, runs)
    if config.cv.final == "refit":
        results = refit(cv_dir, config, summary)
    else:
        results = score_ensemble(cv_dir, config, task, dd, summary)
    finish_run_dir(cv_dir)
    if config.hub.push:  # the final model: the folds (ensemble) or the refit, with the CV's results and card
        from fieldtune.training.publish import publish_finished_run

        publish_finished_run(cv_dir, config)
    return CVResult(cv_dir, summary, trained, results)
