"""`fieldtune sweep`: check everything up front, then workers take trials from the study until none is left.

```
prepare_sweep: recipe + grid / space + sweep directory + storage URL, all checked (nothing written yet)
run_sweep:     open the storage, write sweep.json, enqueue the grid, run `workers` workers, board, best.yaml
work:          loop: recover trials of dead workers -> claim one -> run it -> refresh board and best.yaml
```
Running the same command again continues the study: finished trials are kept, an interrupted one resumes.
"""

from __future__ import annotations

import functools
import logging
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

import fieldtune.sweep.report as report
from fieldtune.errors import ConfigError, FieldtuneError
from fieldtune.modeling.methods import get_method
from fieldtune.redact import install as redact_everything
from fieldtune.redact import redact
from fieldtune.sweep.processes import run_processes
from fieldtune.sweep.space import grid_points, load_recipe, load_space, parse_grid, point_names
from fieldtune.sweep.study import (
    Manifest,
    check_storage_url,
    check_sweep_dir,
    counted,
    create_study,
    enqueue_missing_points,
    has_waiting,
    open_storage,
    recover_dead_trials,
    require_optuna,
    write_manifest,
)
from fieldtune.sweep.trial import Outcome, Plan, Skipped, objective

logger = logging.getLogger(__name__)


def _public_url(url: str | None) -> str | None:
    """The storage URL as sweep.json keeps it: without a password (`user:***@host`)."""
    return url if url is None else redact(url)


def prepare_sweep(
    recipe_path: str | Path,
    overrides: Sequence[str] = (),
    grid: Sequence[str] = (),
    search: str | Path | None = None,
    trials: int | None = None,
    output_dir: str | Path | None = None,
    storage: str | None = None,
    prune_after: int = 3,
    quiet: bool = False,
) -> tuple[Plan, Manifest]:
    """Every check of a sweep that needs no training: the recipe, each trial's config, the models named, the
    sweep directory (empty, or this very sweep) and the storage URL. Raises a one-line `FieldtuneError`."""
    recipe = load_recipe(recipe_path, overrides)
    if grid and search:
        raise ConfigError("Give either --grid KEY=V1,V2 ... or --search SPACE.yaml, not both.")
    if not grid and search is None:
        raise ConfigError(
            "The grid is empty; give --grid section.key=V1,V2 (or --search SPACE.yaml --trials N)."
        )
    if search is not None and (trials is None or trials < 1):
        raise ConfigError("--search needs --trials N (N >= 1): how many trials the study runs in all.")
    if grid and trials is not None:
        raise ConfigError("--trials is for --search; a grid runs each of its points once.")
    if prune_after < 0:
        raise ConfigError(f"--prune-after {prune_after}: give 0 or more finished trials.")
    space = load_space(search, recipe) if search is not None else None
    values = parse_grid(grid, recipe) if grid else None
    points = grid_points(values) if values else []
    base = recipe.config({})
    if base.cv.fold is not None:
        raise ConfigError(
            f"The recipe sets cv.fold: {base.cv.fold} (one fold); remove it to cross-validate every trial (--cv K)."
        )
    if base.data.validation_size <= 0 and base.cv.folds is None:  # with --cv K the folds validate
        raise ConfigError(
            "A sweep chooses its best trial on the validation split; set data.validation_size > 0 "
            f"(now {base.data.validation_size})."
        )
    choices = [
        {k: c} for k, spec in (space or {}).items() if spec["type"] == "categorical" for c in spec["choices"]
    ]
    _check_models(recipe, points or choices)
    from fieldtune.tasks.table import get_task

    task = get_task(base.task)
    sweep_dir = Path(output_dir) if output_dir is not None else Path(base.output_dir) / f"{recipe.name}-sweep"
    check_storage_url(storage)
    manifest = Manifest(str(recipe.path), base.to_dict(), values, space, _public_url(storage))
    check_sweep_dir(sweep_dir, manifest)
    return Plan(
        recipe=recipe,
        grid=values,
        space=space,
        trials=len(points) if values else int(trials or 0),
        names=tuple(point_names(points)),
        sweep_dir=sweep_dir,
        storage=storage,
        study_name=manifest.study_name,
        primary_metric=task.primary_metric,
        greater_is_better=task.greater_is_better,
        seed=base.training.seed,
        prune_after=prune_after,
        quiet=quiet,
    ), manifest


def _check_models(recipe, points: list[dict]) -> None:
    """`train`'s preflight (integrations, Hub settings, model / task fit) for each distinct model of the grid."""
    from fieldtune.training.preflight import check_recipe

    seen = set()
    for point in points or [{}]:
        config = recipe.config(point)
        # as run(): the TF-IDF baseline loads no model
        fits_a_model = not get_method(config.method.name).fits_baseline
        key = (
            config.model.name_or_path,
            config.model.revision,
            config.task,
            config.model.max_length,
            fits_a_model,
        )
        if key not in seen:
            seen.add(key)
            check_recipe(config, model=fits_a_model)


def _open(plan: Plan):
    storage = open_storage(plan.storage, plan.sweep_dir)
    return create_study(storage, plan.study_name, plan.greater_is_better, plan.seed, plan.prune_after)


def _say(plan: Plan, text: str) -> None:
    if not plan.quiet:
        print(text, flush=True)


def work(plan: Plan) -> list[Outcome]:
    """One worker: take trials until the study has none left for it; returns what this worker ran."""
    study = _open(plan)
    points = grid_points(plan.grid) if plan.grid else []
    outcomes: list[Outcome] = []
    while True:
        for name in recover_dead_trials(study, plan.sweep_dir / ".enqueue.lock"):
            _say(plan, f"Trial {name} did not finish; it runs again from its last checkpoint")
        if plan.grid is not None:
            enqueue_missing_points(study, points, list(plan.names), plan.sweep_dir / ".enqueue.lock")
            if not has_waiting(study):
                break
        elif not has_waiting(study) and counted(study) >= plan.trials:
            break
        ran: list[Outcome] = []
        run_one = functools.partial(objective, plan, study, outcomes=ran)
        study.optimize(run_one, n_trials=1, catch=(Skipped,), gc_after_trial=True)
        for outcome in ran:
            score = (
                f"validation {plan.primary_metric} {outcome.value:.4f}"
                if outcome.value is not None
                else "pruned"
            )
            _say(plan, f"Trial {outcome.run_name}: {score}{' (resumed)' if outcome.resumed else ''}")
            report.write_board(plan.sweep_dir)
            report.write_best(plan, study)
        outcomes += ran
    return outcomes


def _worker_main(plan: Plan) -> None:
    """Entry point of a `--workers N` process: the same one-line errors as the CLI."""
    import warnings

    from fieldtune import progress

    redact_everything()  # as the CLI: no password or token in a worker's log lines or tracebacks
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for category in (
        FutureWarning,
        DeprecationWarning,
    ):  # as the CLI does: libraries' notices are for fieldtune
        warnings.filterwarnings("ignore", category=category)
    progress.set_quiet(True)  # N processes' bars on one terminal are noise; each trial still prints a line
    try:
        work(plan)
    except FieldtuneError as e:
        print(f"fieldtune: error: {e}", file=sys.stderr)
        sys.exit(e.exit_code)


def run_sweep(plan: Plan, manifest: Manifest, workers: int = 1) -> tuple[list[Outcome], str]:
    """Run the sweep (`workers` local processes sharing the study); returns this process's outcomes and the summary."""
    require_optuna()
    if workers < 1:
        raise ConfigError(f"--workers {workers}: give 1 or more worker processes.")
    if plan.storage is not None:  # a database that cannot be opened fails before anything is written
        _open(plan)
    fresh = not plan.sweep_dir.exists()
    try:
        return _run(plan, manifest, workers)
    except FieldtuneError:
        # a sweep this command started that failed before any trial finished is not left half-written
        if fresh and plan.sweep_dir.is_dir() and not report.finished_runs(plan.sweep_dir):
            shutil.rmtree(plan.sweep_dir, ignore_errors=True)
        raise


def _run(plan: Plan, manifest: Manifest, workers: int) -> tuple[list[Outcome], str]:
    # sweep.json first: a second process starting this sweep at the same moment then finds this very sweep
    write_manifest(plan.sweep_dir, manifest)
    study = _open(plan)
    if plan.grid is not None:  # enqueued once here, so N workers started below find them all
        enqueue_missing_points(
            study, grid_points(plan.grid), list(plan.names), plan.sweep_dir / ".enqueue.lock"
        )
    if workers == 1:
        outcomes = work(plan)
    else:
        outcomes = []
        failed = run_processes(_worker_main, [(plan,)] * workers, "sweep-worker")
        if failed:
            raise FieldtuneError(
                f"{len(failed)} of {workers} sweep workers failed (exit code {failed[0]}, see above); "
                "fix the cause and run the same command again to continue the sweep."
            )
    board = report.write_board(plan.sweep_dir)
    report.write_best(plan, study)
    text = report.summary(plan, study)
    return outcomes, (board + "\n" + text) if board else text
