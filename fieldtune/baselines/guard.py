"""The baseline as a guard: after a text run, the recipe's own TF-IDF baseline (`baseline:` section, the
run's class weights) is fitted on the same train split and scored on the validation split, in seconds.

When the fine-tuned model is clearly below it there, the run says so in words at the end (eval_results'
`baseline_check`, printed by `fieldtune train`): a user should not ship a model that a 10-second linear
model beats (issue 34: a MiniLM recipe at macro-F1 0.48 against 0.69 for the baseline, and nothing said so).
Validation only, never test: it is what a user may choose on.
"""

from __future__ import annotations

import logging
from typing import Any

from fieldtune.config import RunConfig
from fieldtune.tasks.scoring import real_units
from fieldtune.tasks.table import Task

logger = logging.getLogger(__name__)

# "Clearly below": the run's validation score is worse than the baseline's by more than this share of the
# baseline's score (2%: 0.015 of a macro-F1 of 0.76), not by the noise of one split.
MARGIN = 0.02


def wants_check(config: RunConfig, task: Task, dd: Any) -> bool:
    """A text task whose baseline is TF-IDF, a validation split, the guard on, no ensemble (which holds the
    baseline already)."""
    return (
        config.baseline.guard
        and task.inputs.fitted_baseline
        and "validation" in dd
        and not config.ensemble.enabled
    )


def baseline_check(
    config: RunConfig,
    task: Task,
    dd: Any,
    label_names: list[str] | None,
    validation: dict | None,
    validation_logits: Any = None,
    thresholds: list[float] | None = None,
    target_scale: tuple[float, float] | None = None,
) -> dict | None:
    """The run's validation score (from `validation_logits` decided with `thresholds` when given: what the
    saved model predicts; else the `validation` metrics) against the baseline's; None when not wanted or
    when the baseline cannot be fitted (the guard never fails a finished run). `target_scale`: `dd` holds
    standardised numbers (regression), the baseline is scored in real units as the run's metrics are."""
    if not wants_check(config, task, dd):
        return None
    from fieldtune.baselines.run import unfitted_baseline
    from fieldtune.baselines.tfidf import describe, scores

    metric, targets = task.primary_metric, task.targets
    n = len(label_names or [])
    refs = targets.references(dd["validation"]["label"], n)
    if validation_logits is not None:
        ours = targets.evaluate(validation_logits, refs, label_names, thresholds)[0].get(metric)
    else:
        ours = (validation or {}).get(metric)
    if ours is None:
        return None
    try:
        pipeline, y = unfitted_baseline(config, task, dd["train"]["label"], label_names)
        pipeline.fit(list(dd["train"]["text"]), y)
        logits = scores(pipeline, task, list(dd["validation"]["text"]), n)
        if target_scale is not None:
            logits, refs = real_units(logits, target_scale), real_units(refs, target_scale)
        theirs = float(targets.evaluate(logits, refs, label_names)[0][metric])
    except Exception as e:  # noqa: BLE001  (a settings clash or a degenerate split: say it, keep the run)
        logger.warning("Baseline check skipped: %s", " ".join(str(e).split())[:200])
        return None
    gap = theirs - float(ours) if task.greater_is_better else float(ours) - theirs
    return {
        "split": "validation",
        "metric": metric,
        "run": round(float(ours), 4),
        "baseline": round(theirs, 4),
        "baseline_model": describe(task, config.baseline, config.training.class_weights),
        "below": gap > MARGIN * abs(theirs),
    }


def baseline_line(results: dict) -> str | None:
    """One line for the end of `fieldtune train` when the run is clearly below its baseline."""
    check = results.get("baseline_check") or {}
    if not check.get("below"):
        return None
    return (
        f"Below the baseline: validation {check['metric']} {check['run']:.3f} against {check['baseline']:.3f} "
        f"for the TF-IDF baseline ({check['baseline_model']}); `fieldtune baseline` with this recipe fits it "
        "as a run. More optimizer steps (training.min_steps), another learning rate or the baseline itself may "
        "serve better."
    )
