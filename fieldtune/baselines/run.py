"""Fit the text baseline on the recipe's own split and write a run directory with the same contract.

Same builder, same seed, same splits as `fieldtune train` (`build_dataset(config.data, ...)`): the model is
fitted on the train split only (the validation split has nothing to select), scored on the test split,
and the run directory gets what every later step reads: config.yaml, model/ (skops), eval_results.json
with the same metric keys and bootstrap intervals, predictions.csv, plots and a card that says it is a
scikit-learn baseline. Nothing is written before the data is built; a failure leaves nothing behind.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import Any

from fieldtune import __version__
from fieldtune.config import RunConfig, save_config
from fieldtune.datasets_builders import build_dataset, dataset_name
from fieldtune.datasets_builders.data_report import describe as describe_data
from fieldtune.datasets_builders.data_report import recording
from fieldtune.datasets_builders.normalize import CONFIG_KEY as NORMALIZE_KEY
from fieldtune.rundir.layout import finish_run_dir, restore_run_dir, start_run_dir
from fieldtune.rundir.results import write_run_outputs
from fieldtune.tasks.scoring import label_names_of
from fieldtune.tasks.table import Task

logger = logging.getLogger(__name__)


def unfitted_baseline(
    config: RunConfig, task: Task, train_labels: list, label_names: list[str] | None
) -> tuple[Any, Any]:
    """The recipe's `baseline:` pipeline with its class weights, and the train targets it fits on."""
    from fieldtune.baselines.tfidf import build_pipeline

    targets = task.targets
    class_weight = targets.baseline_class_weight(config.training.class_weights, train_labels, label_names)
    pipeline = build_pipeline(task, config.baseline, class_weight)
    return pipeline, targets.baseline_targets(train_labels, len(label_names or []))


def fit_text_baseline(
    config: RunConfig, task: Task, run_dir: Path, overwrite: bool = False
) -> dict[str, Any]:
    """Fit, score and write `run_dir`; returns the eval results (the run is complete when this returns)."""
    from fieldtune.baselines.tfidf import coefficient_count, describe, fit, save_baseline, scores

    with recording() as data_report:  # the encodings read and the text normalisation, as `run()` records them
        dd = build_dataset(config.data, task.name)
    for line in describe_data(data_report):
        logger.info("%s", line)
    label_names = label_names_of(dd["train"].features["label"])
    targets = task.targets
    spec = config.training.class_weights
    pipeline, y = unfitted_baseline(config, task, dd["train"]["label"], label_names)
    replaced = start_run_dir(run_dir, overwrite, resume=False)  # data and settings are valid: write now
    try:
        save_config(config, run_dir / "config.yaml", task.inputs)
        started = time.perf_counter()
        fit(pipeline, list(dd["train"]["text"]), y, config.baseline)
        fit_s = time.perf_counter() - started
        num_labels = len(label_names or [])
        logits = scores(pipeline, task, list(dd["test"]["text"]), num_labels)
        refs = targets.references(dd["test"]["label"], num_labels)
        validation = None  # what a sweep chooses on, as for a trained run (never on test)
        if "validation" in dd:
            val_logits = scores(pipeline, task, list(dd["validation"]["text"]), num_labels)
            val_refs = targets.references(dd["validation"]["label"], num_labels)
            metrics = targets.evaluate(val_logits, val_refs, label_names)[0]
            validation = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
        coefficients = coefficient_count(pipeline)
        model = describe(task, config.baseline, spec)
        save_baseline(
            pipeline,
            run_dir / "model",
            {"task": task.name, "label_names": label_names, "model": model, "coefficients": coefficients,
             "fieldtune_version": __version__,  # predict / evaluate normalise their inputs as training did
             NORMALIZE_KEY: (data_report.get("normalization") or {}).get("mode")},
        )  # fmt: skip
        results = write_run_outputs(
            run_dir, config, task, logits, refs, dd["test"], label_names,
            extra={
                "dataset": dataset_name(config.data),
                "base_model": None,
                "method": "baseline",
                "baseline": {"kind": task.inputs.baseline, "model": model, "library": "scikit-learn"},
                "trainable_params": coefficients,
                "total_params": coefficients,
                "train_runtime_s": round(fit_s, 3),
                "train_samples_per_s": round(len(dd["train"]) / max(fit_s, 1e-9), 3),
                "precision": "fp64",
                "world_size": 1,
                "fieldtune_version": __version__,
                "validation_metrics": validation,
                **data_report,
            },
        )  # fmt: skip
        finish_run_dir(run_dir)
    except BaseException:
        if replaced is not None and replaced.is_dir():
            restore_run_dir(run_dir, replaced)
        else:
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    if replaced is not None:
        shutil.rmtree(replaced, ignore_errors=True)
    return results
