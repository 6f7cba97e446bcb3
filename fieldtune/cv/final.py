"""The final model of a cross-validation (`cv.final`), which scores the test split once.

ensemble: the K fold models, their probabilities averaged (`inference.fold_ensemble`); the CV directory is
  then the model: `predict`, `evaluate` and `leaderboard` accept it.
refit: one more `run()` on every train + validation row (`cv.refit`, no validation split) for the folds'
  mean best epoch count, in `refit/`; its model moves up to the CV directory's `model/`.
Either way the CV directory gets eval_results.json (test scores, with `cv`: the CV mean, sd and interval of
every metric) and predictions.csv, as a run directory has, so the leaderboard and collect read it.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from fieldtune import __version__
from fieldtune.config import RunConfig
from fieldtune.config.recipe_paths import model_id
from fieldtune.datasets_builders import dataset_name
from fieldtune.errors import ConfigError
from fieldtune.inference.load import cached_split_batches, load_for_inference, predict_logits, thresholds_of
from fieldtune.modeling.create import count_params
from fieldtune.rundir.layout import write_json
from fieldtune.rundir.reader import RunDirectory
from fieldtune.rundir.results import write_run_outputs
from fieldtune.rundir.saving import is_peft_model
from fieldtune.tasks.scoring import label_names_of
from fieldtune.tasks.table import Task

REFIT_DIR = "refit"
# recipe keys about a validation split, which the refit has not: TrainingArguments' defaults for none
_VALIDATION_KEYS = (
    "eval_strategy",
    "eval_steps",
    "load_best_model_at_end",
    "metric_for_best_model",
    "max_steps",
)


def cv_entry(config: RunConfig, summary: dict[str, Any]) -> dict[str, Any]:
    """What eval_results.json says of the cross-validation (the leaderboard shows its mean ± sd)."""
    return {
        "folds": summary["folds"],
        "final": config.cv.final,
        "seed": summary["seed"],
        "metrics": {m: {k: v for k, v in s.items() if k != "folds"} for m, s in summary["metrics"].items()},
    }


def _extra(config: RunConfig, summary: dict[str, Any], total_params: int) -> dict[str, Any]:
    return {
        "dataset": dataset_name(config.data),
        "base_model": model_id(config.model.name_or_path),
        "method": config.method.name,
        "total_params": total_params,
        "fieldtune_version": __version__,
        "cv": cv_entry(config, summary),
        # what a sweep or a reader compares: the CV means on the held-out folds, never test
        "validation_metrics": {m: s["mean"] for m, s in summary["metrics"].items()},
    }


def score_ensemble(cv_dir: Path, config: RunConfig, task: Task, dd: Any, summary: dict[str, Any]) -> dict:
    """The fold ensemble on the test split -> the CV directory's eval_results.json and predictions.csv."""
    loaded = load_for_inference(cv_dir)
    test = dd["test"]
    label_names = label_names_of(test.features["label"])
    logits = predict_logits(loaded, cached_split_batches(loaded, "test", test), desc="Ensemble on test")
    refs = task.targets.references(test["label"], len(label_names or []))
    total = count_params(loaded.model)[1]
    return write_run_outputs(
        cv_dir, config, task, logits, refs, test, label_names, _extra(config, summary, total),
        thresholds=thresholds_of(loaded), is_adapter=any(is_peft_model(m) for m in loaded.model.folds),
    )  # fmt: skip


def mean_best_epoch(summary: dict[str, Any]) -> float:
    """The folds' mean epoch of the model each kept (its best evaluation, or its last)."""
    epochs = [f.get("best_epoch") for f in summary["per_fold"]]
    if any(e is None for e in epochs):
        raise ConfigError(
            "cv.final: refit trains for the folds' mean best epoch, but a fold run recorded no evaluation; "
            "keep evaluation on (remove training.eval_strategy: no) or use cv.final: ensemble."
        )
    return round(float(np.mean(epochs)), 3)


def refit_config(config: RunConfig, epochs: float) -> RunConfig:
    """The recipe on every pooled row for `epochs` epochs, with no validation split to evaluate on."""
    extra = {k: v for k, v in config.training.extra.items() if k not in _VALIDATION_KEYS}
    training = dataclasses.replace(config.training, num_train_epochs=epochs, early_stopping_patience=None)
    training.extra = extra
    return dataclasses.replace(
        config,
        name=f"{config.name or 'run'}-{REFIT_DIR}",
        training=training,
        cv=dataclasses.replace(config.cv, refit=True, fold=None),
        hub=dataclasses.replace(config.hub, push=False),
    )


def refit(cv_dir: Path, config: RunConfig, summary: dict[str, Any]) -> dict:
    """Train the refit (resumed or skipped as a fold is), then give the CV directory its model and scores."""
    from fieldtune.training.run import run

    run_dir = cv_dir / REFIT_DIR
    if not RunDirectory(run_dir).finished:
        again = (run_dir / "config.yaml").is_file()
        if run_dir.exists() and not again:
            shutil.rmtree(run_dir)
        run(refit_config(config, mean_best_epoch(summary)), output_dir=run_dir, resume=again)
    results = RunDirectory(run_dir).results
    if (run_dir / "model").is_dir():  # the CV directory's model is the refit's (a rename: nothing copied)
        shutil.rmtree(cv_dir / "model", ignore_errors=True)
        os.replace(run_dir / "model", cv_dir / "model")
    shutil.copyfile(run_dir / "predictions.csv", cv_dir / "predictions.csv")
    extra = _extra(config, summary, results.get("total_params") or 0)
    extra["cv"]["refit_epochs"] = mean_best_epoch(summary)
    out = results | extra | {"model": str(cv_dir)}
    write_json(cv_dir / "eval_results.json", out)
    return out
