"""What a sweep leaves besides its run directories: the board of its trials and the best trial as a recipe.

`leaderboard/` is written by `fieldtune.leaderboard` exactly as `fieldtune leaderboard` writes it (HTML,
Markdown, CSV, PNG), after every trial and at the end. `best.yaml` is the config of the trial with the best
*validation* primary metric (with `--cv K`: the CV mean, a later trial winning only when a paired test over
the out-of-fold rows agrees, `cv_choice.py`); its test scores are reported beside it, never used to choose it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fieldtune.config import save_config
from fieldtune.rundir.layout import atomic_write_text
from fieldtune.rundir.reader import RunDirectory
from fieldtune.sweep.study import RUN_NAME, live
from fieldtune.sweep.trial import Plan

BOARD = "leaderboard"
BEST = "best.yaml"


def finished_runs(sweep_dir: Path) -> list[Path]:
    """The trial run directories that finished (of every worker that writes into this sweep directory)."""
    if not sweep_dir.is_dir():
        return []
    return [p for p in sorted(sweep_dir.iterdir()) if p.is_dir() and RunDirectory(p).finished]


def write_board(sweep_dir: Path) -> str | None:
    """Rank the finished trials into `sweep_dir/leaderboard/`; the terminal text, or None before any finished."""
    from fieldtune.leaderboard import build_leaderboard

    runs = finished_runs(sweep_dir)
    if not runs:
        return None
    _, text = build_leaderboard(runs, [], sweep_dir / BOARD)
    return text


def best_trial(study: Any) -> Any | None:
    """The complete trial with the best validation value (Optuna's `best_trial`: the study's direction)."""
    from optuna.trial import TrialState

    done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if live(t)]
    if not done:
        return None
    pick = max if study.direction.name == "MAXIMIZE" else min
    return pick(done, key=lambda t: (t.value, -t.number))  # equal values: the earliest trial


def chosen_trial(plan: Plan, study: Any) -> tuple[Any | None, list[str]]:
    """The trial `best.yaml` holds and how it was chosen: the best validation value, or with `--cv K` the
    CV mean checked by a paired test over the out-of-fold rows (`cv_choice.py`: one line per comparison)."""
    best = best_trial(study)
    if best is None or plan.recipe.config({}).cv.folds is None:
        return best, []
    from optuna.trial import TrialState

    from fieldtune.sweep.cv_choice import Candidate, choose
    from fieldtune.tasks.table import TASKS

    done = sorted(
        (t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if live(t)),
        key=lambda t: t.number,
    )
    names = [t.user_attrs[RUN_NAME] for t in done]
    candidates = [Candidate(n, t.value, plan.sweep_dir / n) for n, t in zip(names, done, strict=True)]
    kind = TASKS[plan.recipe.config({}).task].targets
    chosen, lines = choose(candidates, kind, plan.primary_metric, plan.greater_is_better)
    return done[names.index(chosen.name)], lines


def write_best(plan: Plan, study: Any) -> Any | None:
    """Write the best trial's config as a recipe (`best.yaml`, a valid `fieldtune train` recipe)."""
    best, lines = chosen_trial(plan, study)
    if best is None:
        return None
    run_name = best.user_attrs[RUN_NAME]
    config = plan.recipe.config(best.params, name=f"{plan.recipe.name}-{run_name}")
    save_config(config, plan.sweep_dir / BEST)
    how = f"# chosen by {chosen_on(config, plan.primary_metric)}: {run_name} {best.value:.4f}; test never chose it\n"
    if lines:  # --cv K: the rule, then each comparison in trial order
        from fieldtune.sweep.cv_choice import rule

        how += f"# {rule(plan.primary_metric)}\n" + "".join(f"# {line}\n" for line in lines)
    atomic_write_text(plan.sweep_dir / BEST, how + (plan.sweep_dir / BEST).read_text(encoding="utf-8"))
    return best


def chosen_on(config: Any, metric: str) -> str:
    """What the sweep compared its trials on: the validation split, or the CV mean over held-out folds."""
    if config.cv.folds is not None:
        return (
            f"the {config.cv.folds}-fold CV mean of validation {metric} (the held-out folds), "
            "a paired test over the out-of-fold rows deciding close calls"
        )
    return f"validation {metric}"


def _scores(metrics: dict[str, Any], first: str) -> str:
    names = [first] + [k for k in sorted(metrics) if k != first and k not in ("runtime", "loss")]
    return ", ".join(f"{k} {metrics[k]:.4f}" for k in names[:4] if isinstance(metrics.get(k), (int, float)))


def summary(plan: Plan, study: Any) -> str:
    """Trials by state, and the chosen one: its validation score and (only reported) its test scores."""
    from optuna.trial import TrialState

    trials = [t for t in study.get_trials(deepcopy=False) if live(t)]
    by_state: dict[str, int] = {}
    for t in trials:
        by_state[t.state.name.lower()] = by_state.get(t.state.name.lower(), 0) + 1
    lines = [f"Sweep {plan.sweep_dir}: " + ", ".join(f"{n} {s}" for s, n in sorted(by_state.items()))]
    best, _ = chosen_trial(plan, study)
    if best is not None:
        test = best.user_attrs.get("test_metrics", {})
        lines.append(
            f"Best on {chosen_on(plan.recipe.config({}), plan.primary_metric)}: {best.user_attrs[RUN_NAME]} "
            f"({best.value:.4f}); "
            f"its test scores: {_scores(test, plan.primary_metric)}"
        )
        lines.append(f"Recipe of the best trial: {plan.sweep_dir / BEST}")
    pending = [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    if pending:
        lines.append(
            f"{len(pending)} trial(s) still running or waiting (other workers, or run the command again)"
        )
    return "\n".join(lines)
