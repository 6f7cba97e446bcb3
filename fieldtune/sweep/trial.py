"""One sweep trial: the recipe with the trial's parameters -> a normal run directory under the sweep directory.

The objective is the validation primary metric of the model the run kept (`eval_results.json`'s
`validation_metrics`; with `sweep --cv K`, the CV mean over the held-out folds), never a test score. A trial whose run directory holds checkpoints from an interrupted
try resumes from them (`run(..., resume=True)`); one that already finished is read back, not trained again.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fieldtune.errors import FieldtuneError
from fieldtune.rundir.layout import is_run_dir
from fieldtune.rundir.reader import RunDirectory
from fieldtune.sweep.space import Recipe, suggest
from fieldtune.sweep.study import RUN_NAME, SKIPPED, WORKER, counted, duplicate_of, worker_id

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Plan:
    """Everything a worker needs (picklable: `--workers N` hands it to new processes)."""

    recipe: Recipe
    grid: dict[str, list[Any]] | None
    space: dict[str, dict[str, Any]] | None
    trials: int
    names: tuple[str, ...]  # grid: one run name per point, in `grid_points` order
    sweep_dir: Path
    storage: str | None
    study_name: str
    primary_metric: str
    greater_is_better: bool
    seed: int
    prune_after: int
    quiet: bool = False


class Skipped(Exception):
    """A claimed trial that must not run (a twin of a lower-numbered trial, or one more than `--trials`)."""


@dataclass
class Outcome:
    number: int
    run_name: str
    state: str  # "complete" | "pruned"
    value: float | None
    resumed: bool


def finished_results(run_dir: Path) -> dict[str, Any] | None:
    """A finished trial's `eval_results.json` (read by `RunDirectory`); None while it has not finished."""
    run = RunDirectory(run_dir)
    return run.results if run.finished else None


def pruning_callback(trial: Any, metric: str) -> Any:
    """Reports every evaluation's validation `metric` to Optuna; raises `TrialPruned` when the pruner says so."""
    import optuna
    from transformers import TrainerCallback

    class ReportToOptuna(TrainerCallback):
        def on_evaluate(
            self, args: Any, state: Any, control: Any, metrics: dict | None = None, **kw: Any
        ) -> None:
            value = (metrics or {}).get(f"eval_{metric}")
            if value is None:
                return
            trial.report(float(value), state.global_step)
            if trial.should_prune():
                raise optuna.TrialPruned(f"validation {metric} {value:.4f} at step {state.global_step}")

    return ReportToOptuna()


def _skip(trial: Any, reason: str) -> None:
    trial.set_user_attr(SKIPPED, reason)
    raise Skipped(reason)


def objective(plan: Plan, study: Any, trial: Any, *, outcomes: list[Outcome]) -> float:
    """Run one trial; appends what happened to `outcomes` (pruned trials too)."""
    import optuna

    from fieldtune.training.run import run

    run_name = trial.user_attrs.get(RUN_NAME)
    if run_name is None:  # a fresh trial from the sampler; a grid only runs its enqueued points
        if plan.grid is not None or counted(study, before=trial.number) >= plan.trials:
            _skip(trial, "the sweep had all its trials when this one was asked")
        run_name = f"trial-{trial.number:04d}"
        trial.set_user_attr(RUN_NAME, run_name)
    twin = duplicate_of(study, trial, run_name)
    if twin is not None:
        _skip(trial, f"trial {twin} runs {run_name}")
    trial.set_user_attr(WORKER, worker_id())
    if plan.grid is not None:
        params = {key: trial.suggest_categorical(key, values) for key, values in plan.grid.items()}
    else:
        params = suggest(trial, plan.space or {})
    config = plan.recipe.config(params, name=f"{plan.recipe.name}-{run_name}")
    run_dir = plan.sweep_dir / run_name

    results = finished_results(run_dir)  # a previous try finished it but died before telling the study
    resumed = results is None and is_run_dir(run_dir)
    if results is None:
        if run_dir.exists() and not resumed:  # killed before its config.yaml: nothing there to resume
            shutil.rmtree(run_dir)
        cross = config.cv.folds is not None  # `sweep --cv K`: the trial is a cross-validation
        # pruning follows one run's evaluations; K folds are K curves, so a cross-validated trial runs whole
        callbacks = (
            [pruning_callback(trial, plan.primary_metric)] if plan.space is not None and not cross else []
        )
        if resumed:
            logger.info("Trial %s resumes from its checkpoint", run_name)
        try:
            if cross:  # its eval_results.json's validation_metrics are the CV means
                from fieldtune.cv import run_cv

                results = run_cv(config, output_dir=run_dir, resume=resumed).results
            else:
                results = run(config, output_dir=run_dir, resume=resumed, callbacks=callbacks).results
        except optuna.TrialPruned:
            shutil.rmtree(run_dir, ignore_errors=True)  # a pruned trial leaves no half-written run behind
            outcomes.append(Outcome(trial.number, run_name, "pruned", None, resumed))
            raise
    trial.set_user_attr("resumed", resumed)
    scores = results.get("validation_metrics") or {}
    if plan.primary_metric not in scores:
        raise FieldtuneError(
            f"Trial {run_name} has no validation {plan.primary_metric}: a sweep chooses on the validation split; "
            "set data.validation_size > 0 and keep evaluation on (training.eval_strategy)."
        )
    test = {k: v for k, v in results.get("metrics", {}).items() if isinstance(v, (int, float))}
    trial.set_user_attr("test_metrics", test)
    value = float(scores[plan.primary_metric])
    outcomes.append(Outcome(trial.number, run_name, "complete", value, resumed))
    return value
