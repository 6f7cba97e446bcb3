"""After training: the run's evaluation stage and its ensemble stage, on the trained Trainer.

`evaluate_run`: test predictions, the validation scores model selection saw, the decision settings tuned
on validation (tags' thresholds, written into the model's config) and what an ensemble chooses its weight
on. `ensemble_stage`: `ensemble.baseline_weight` fits the text baseline and mixes it into the test scores.
"""

from __future__ import annotations

from typing import Any

from fieldtune.config import RunConfig
from fieldtune.rundir.results import final_validation
from fieldtune.tasks.table import Task


def evaluate_run(
    trainer: Any, config: RunConfig, task: Task, prepared: Any, dd: Any, label_names: list[str] | None
) -> tuple[Any, Any, Any, Any]:
    """(test output, validation metrics, validation logits the decisions were tuned on, what an ensemble
    chooses on). Every process joins: the evaluations are collective."""
    with trainer.saved_precision():  # what model/ does when loaded, not the bf16 autocast of training
        test_output = trainer.predict(prepared.dataset["test"], metric_key_prefix="test")
        # what model selection saw (sweeps choose on it, never on test); every process joins the evaluation
        validation = final_validation(trainer, prepared.dataset, task)
        validation_logits = calibrate(trainer, task, prepared, dd, label_names)
        choose_on = validation_logits  # the ensemble's weight (`auto`) and, for tags, thresholds
        if choose_on is None and config.ensemble.baseline_weight == "auto":
            choose_on = logits_of(trainer.predict(prepared.dataset["validation"]))
    return test_output, validation, validation_logits, choose_on


def calibrate(trainer: Any, task: Task, prepared: Any, dd: Any, label_names: list[str] | None) -> Any:
    """Decision settings tuned on the validation split (tags: one threshold per label; 0.5 without a
    validation split), written into the model's config so every loader of the saved model decides alike.
    Returns the validation logits they were tuned on (None: nothing to tune)."""
    targets = task.targets
    if not targets.calibrates:
        return None
    logits = None
    if "validation" in prepared.dataset:
        logits = logits_of(trainer.predict(prepared.dataset["validation"], metric_key_prefix="validation"))
        refs = targets.references(dd["validation"]["label"], len(label_names or []))
        decision = targets.calibrate(logits, refs)
    else:
        decision = {"fieldtune_thresholds": [0.5] * len(label_names or [])}
    for key, value in decision.items():
        setattr(trainer.model.config, key, value)
    return logits


def logits_of(output: Any) -> Any:
    preds = output.predictions
    return preds[0] if isinstance(preds, tuple) else preds


def ensemble_stage(
    trainer: Any, config: RunConfig, task: Task, dd: Any, label_names: list[str] | None, class_weights: Any,
    test_output: Any, choose_on: Any,
) -> tuple[Any, tuple[Any, dict]]:  # fmt: skip
    """The baseline fitted now and mixed into the run's test scores: the mixed test output and (fitted
    baseline, its results entry); the run's scores become the ensemble's."""
    from fieldtune.baselines.ensemble import ensemble_test

    pipeline, mixed, entry = ensemble_test(
        config, task, dd, label_names, class_weights, logits_of(test_output), choose_on, trainer.model.config
    )
    return test_output._replace(predictions=mixed), (pipeline, entry)
