"""`run(config)`: the one function the CLI and the tests call to train, evaluate and write a run directory.

One list of stages: check -> data -> model -> trainer -> train -> evaluate -> (ensemble) -> write -> (hub).
A method that fits the task's baseline (`method.name: baseline`, `fieldtune baseline`) is the baseline
stage instead: text fits scikit-learn (`fieldtune.baselines`), images run the same stages as the probe row.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from fieldtune import __version__
from fieldtune.baselines.guard import baseline_check, wants_check
from fieldtune.config import RunConfig, save_config
from fieldtune.config.recipe_paths import model_id
from fieldtune.datasets_builders import build_dataset, dataset_name
from fieldtune.datasets_builders.data_report import describe, note, recording
from fieldtune.datasets_builders.folds import cv_split, fold_rows
from fieldtune.datasets_builders.normalize import CONFIG_KEY as NORMALIZE_KEY
from fieldtune.datasets_builders.text_table import TEXT_COLUMNS_KEY
from fieldtune.errors import ConfigError
from fieldtune.inputs.prepare import prepare_inputs
from fieldtune.modeling.create import count_params, create_model
from fieldtune.modeling.dropout import has_dropout
from fieldtune.modeling.heads import fold_target_scale
from fieldtune.modeling.methods import get_method
from fieldtune.modeling.precision import resolve_attention, resolve_precision
from fieldtune.rundir.layout import (
    INCOMPLETE,
    drop_replaced_on_save,
    drop_replaced_run,
    finish_run_dir,
    is_run_dir,
    last_complete_checkpoint,
    restore_run_dir,
    start_run_dir,
    worth_resuming,
)
from fieldtune.rundir.results import write_results
from fieldtune.targets.class_weights import class_weight_tensor
from fieldtune.tasks.scoring import label_names_of, standardise
from fieldtune.tasks.table import Task, get_task
from fieldtune.tracking import Tracker
from fieldtune.trainers import distillation
from fieldtune.trainers.arguments import process_group
from fieldtune.trainers.evaluation import ensemble_stage, evaluate_run
from fieldtune.trainers.pretraining import mlm_corpus, pretrain
from fieldtune.training.preflight import preflight, resolve_run_dir

logger = logging.getLogger(__name__)


@dataclass
class RunResult:
    run_dir: Path
    results: dict[str, Any]


@dataclass
class _Data:
    """The data stage's output: the splits as built, their labels, and the model's inputs."""

    dd: Any
    label_names: list[str] | None
    target_scale: tuple[float, float] | None
    prepared: Any
    report: dict[str, Any]  # what reading found (encodings, normalisation, coverage), for eval_results.json


def run(
    config: RunConfig,
    output_dir: str | Path | None = None,
    overwrite: bool = False,
    resume: bool = False,
    checked: bool = False,
    callbacks: Sequence[Any] = (),
) -> RunResult:
    """Train, evaluate on the test split and write the run directory. Returns where and what.

    `checked`: the caller already ran `fieldtune.training.preflight.preflight` for this config and run directory.
    `callbacks` are extra `TrainerCallback`s for the outer trainer (a sweep's pruning callback).
    A method that fits the task's baseline (`method.name: baseline`) runs the baseline stage instead
    (seconds, no checkpoints, so `resume` fits it again).
    """
    if get_method(config.method.name).fits_baseline:
        # no checkpoints: resuming one (a sweep's trial) fits it again
        again = resume and is_run_dir(resolve_run_dir(config, output_dir))
        return _baseline(config, output_dir, overwrite or again)
    return _fine_tune(config, output_dir, overwrite, resume, checked, callbacks)


def run_baseline(
    config: RunConfig, output_dir: str | Path | None = None, overwrite: bool = False
) -> RunResult:
    """The classical model a user would try first, on exactly the recipe's split, as a run directory
    (`fieldtune baseline`): the baseline stage, whatever the recipe's method."""
    return _baseline(config, output_dir, overwrite)


def _baseline(config: RunConfig, output_dir: str | Path | None, overwrite: bool) -> RunResult:
    """The baseline stage. Text (`Modality.fitted_baseline`): word + char TF-IDF and a linear model
    (`fieldtune.baselines`). Images (`baseline_method: probe`): the recipe's backbone frozen, a linear head trained on its
    cached features: the fine-tuning stages with the `probe` row. Both results carry `baseline` (what it
    is), which the leaderboard marks."""
    task: Task = get_task(config.task)
    run_dir = resolve_run_dir(config, output_dir)
    if task.inputs.baseline is None:
        raise ConfigError(
            f"`fieldtune baseline`: task {task.name} has no baseline yet; compare against another run instead."
        )
    if task.inputs.baseline_method:  # the normal run with that method row (images: the cached probe)
        method = dataclasses.replace(config.method, name=task.inputs.baseline_method, feature_cache=True)
        model = f"linear probe on frozen {model_id(config.model.name_or_path)} features"
        info = dict(kind=task.inputs.baseline, model=model, library="transformers")
        return _fine_tune(dataclasses.replace(config, method=method), output_dir, overwrite, baseline=info)
    from fieldtune.baselines.run import fit_text_baseline
    from fieldtune.baselines.tfidf import check_settings

    check_settings(task, config.baseline)
    preflight(config, run_dir, overwrite, model=False)  # before anything heavy; no transformers model
    results = fit_text_baseline(config, task, run_dir, overwrite)
    if config.hub.push:
        from fieldtune.training.publish import publish_finished_run

        publish_finished_run(run_dir, config)
    return RunResult(run_dir, results)


def _fine_tune(
    config: RunConfig,
    output_dir: str | Path | None,
    overwrite: bool,
    resume: bool = False,
    checked: bool = False,
    callbacks: Sequence[Any] = (),
    baseline: dict[str, str] | None = None,
) -> RunResult:
    """The stages of a transformers run (`baseline`: what the run stands for as the task's baseline)."""
    from transformers import set_seed

    from fieldtune.trainers import build_training_args

    run_dir = resolve_run_dir(config, output_dir)
    # before anything heavy; every process of a launch checks (none has written the run directory yet)
    task: Task = get_task(config.task) if checked else preflight(config, run_dir, overwrite, resume)
    use_cpu = not torch.cuda.is_available()
    precision = resolve_precision(config.training.precision, use_cpu)
    _check_validation_split(config)
    set_seed(config.training.seed)
    data = _data(config, task, use_cpu)
    corpus = mlm_corpus(config, task, data, run_dir if resume else None)  # None: no pretraining
    model, info = _model(config, task, data, precision, use_cpu)
    args = build_training_args(
        config.training, run_dir / "checkpoints", task, "validation" in data.prepared.dataset, precision,
        use_cpu, train_size=len(data.prepared.dataset["train"]),
    )  # fmt: skip
    class_weights = (
        class_weight_tensor(config.training.class_weights, data.dd["train"]["label"], data.label_names)
        if data.label_names
        else None
    )
    is_main = args.process_index == 0
    # with --overwrite, the old run, moved aside: it comes back if the new run fails early. Only now, with
    # data, model and arguments valid, does anything get written.
    replaced = start_run_dir(run_dir, overwrite, resume) if is_main else None
    tracker = None  # MLflow / W&B, opened before training so every trainer of this run logs into one run
    try:
        if is_main:
            save_config(config, run_dir / "config.yaml", task.inputs)
        if corpus is not None:  # the masked-LM phase; the classifier then starts from the encoder it adapted
            encoder = pretrain(config, task, corpus, data.prepared.processor, run_dir, precision, use_cpu)
            model, info = _model(config, task, data, precision, use_cpu, encoder)
        trainer = _trainer(config, task, data, model, args, class_weights, callbacks)
        if is_main:
            tracker = _log_locally(trainer, args, config, run_dir, replaced)
            tracker.start()
        checkpoint = last_complete_checkpoint(run_dir / "checkpoints") if resume else None
        train_output = trainer.train(resume_from_checkpoint=checkpoint)
        test_output, validation, validation_logits, choose_on = evaluate_run(
            trainer, config, task, data.prepared, data.dd, data.label_names
        )
        ensemble = None  # (fitted baseline, results entry): the run's scores become the ensemble's
        if config.ensemble.enabled and is_main:
            test_output, ensemble = ensemble_stage(
                trainer, config, task, data.dd, data.label_names, class_weights, test_output, choose_on
            )
        check = None  # the recipe's TF-IDF baseline on validation: is the run clearly below it?
        if is_main and wants_check(config, task, data.dd):
            thresholds = getattr(trainer.model.config, "fieldtune_thresholds", None)
            check = baseline_check(
                config, task, data.dd, data.label_names, validation, validation_logits, thresholds,
                data.target_scale,
            )  # fmt: skip
        extra = {
            **({"baseline": baseline} if baseline else {}),
            **({"ensemble": ensemble[1]} if ensemble else {}),
            **({"pretraining": corpus.summary} if corpus else {}),
            **({"baseline_check": check} if check else {}),
            "validation_metrics": validation,
        }
        results = _write(trainer, config, task, data, run_dir, (test_output, train_output), model, info,
                         precision, extra)  # fmt: skip
        if ensemble and is_main:  # beside the transformer's files, which write_results has just put in place
            from fieldtune.baselines.ensemble import save_ensemble

            save_ensemble(ensemble[0], run_dir / "model", task, data.label_names, ensemble[1])
        if is_main:
            finish_run_dir(run_dir)  # the run is complete whether or not the push below succeeds
    except BaseException:
        if tracker is not None:
            tracker.fail()
        if is_main:
            _undo(run_dir, replaced, resume)
        raise
    if is_main:
        drop_replaced_run(replaced)
        tracker.finish(
            test_output.metrics,
            trainer.state.global_step,
            [run_dir / "config.yaml", run_dir / "eval_results.json"],
        )
        if config.hub.push:
            from fieldtune.training.publish import publish_finished_run

            publish_finished_run(run_dir, config)
    trainer.accelerator.wait_for_everyone()  # other ranks return once rank 0 has written the run
    return RunResult(run_dir, results)


def _check_validation_split(config: RunConfig) -> None:
    if (
        config.training.early_stopping_patience
        and config.data.validation_size <= 0
        and config.cv.fold is None  # a fold's run has its fold as validation
    ):
        raise ConfigError(
            "`training.early_stopping_patience` needs a validation split; set `data.validation_size` > 0."
        )


def _data(config: RunConfig, task: Task, use_cpu: bool) -> _Data:
    """The data stage: the builder's splits (a fold's under `--cv`), standardised targets, model inputs."""
    # Multi-process (accelerate launch): rank 0 builds the data first (synthetic images, decoded-pixel and
    # datasets caches written once), the other ranks then read them. The barrier also closes a race: every
    # rank's check_run_dir_free above runs before rank 0 can reach start_run_dir below, so no rank sees
    # rank 0's fresh run directory and refuses it. Single process: a no-op.
    # data_report: the encodings read, the text normalisation, the tokenizer coverage (for eval_results.json)
    with process_group(config.training, use_cpu).main_process_first(), recording() as data_report:
        dd = build_dataset(config.data, task.name)
        # `fieldtune train --cv K`: a fold's run validates on its fold; the refit trains on all pooled rows
        pool = fold_rows(dd, config.cv, config.data.seed)  # the rows every fold's inputs are prepared from
        dd = cv_split(dd, config.cv, config.data.seed, dataset_name(config.data))
        label_names = label_names_of(dd["train"].features["label"])
        target_scale = None
        if task.targets.scaled:
            dd, target_scale = standardise(dd)
        # preparing checks first whether the model can read the data at all (tokenizer coverage)
        prepared = prepare_inputs(task, dd, config, pool)
        if config.distill.enabled:  # the teacher predicts every training row once: soft targets, recorded
            note("distill", distillation.add_teacher_logits(prepared, config.distill, task.name, label_names))
        if config.ensemble.enabled:  # the baseline half's data checks, before any training
            from fieldtune.baselines.ensemble import check_ensemble_data

            check_ensemble_data(config, task, dd)
    for line in describe(data_report):
        logger.info("%s", line)
    return _Data(dd, label_names, target_scale, prepared, data_report)


def _model(
    config: RunConfig, task: Task, data: _Data, precision: str, use_cpu: bool, weights: str | None = None
) -> tuple[Any, Any]:
    """The model stage: the backbone with its head (`weights`: the pretraining phase's encoder), the method
    applied, the data mapping in its config."""
    attention = resolve_attention(config.model.attn_implementation, precision, use_cpu)
    model, info = create_model(
        config.model, task, data.label_names, config.method, config.data.image_size, attention, weights
    )
    if config.training.r_drop and not has_dropout(model):  # two passes that could only agree: no regulariser
        raise ConfigError(
            f"`training.r_drop` compares two dropout masks, but {config.model.name_or_path} has no dropout "
            "(every dropout probability is 0); set `model.dropout` > 0 (e.g. 0.1) or remove `training.r_drop`."
        )
    if "normalization" in data.report:  # predict / evaluate normalise their inputs the same way
        setattr(model.config, NORMALIZE_KEY, data.report["normalization"]["mode"])
    text_columns = data.report.get(TEXT_COLUMNS_KEY)  # kept: the pretraining phase builds the model again
    if text_columns:  # the data mapping travels with the model (exports too): predict reads these columns
        setattr(model.config, TEXT_COLUMNS_KEY, text_columns)
    return model, info


def _trainer(
    config: RunConfig,
    task: Task,
    data: _Data,
    model: Any,
    args: Any,
    class_weights: Any,
    callbacks: Sequence[Any],
) -> Any:
    from transformers import EarlyStoppingCallback

    from fieldtune.tasks.scoring import make_compute_metrics
    from fieldtune.trainers import make_trainer

    callbacks = list(callbacks)
    if config.training.early_stopping_patience:
        callbacks.append(
            EarlyStoppingCallback(early_stopping_patience=config.training.early_stopping_patience)
        )
    return make_trainer(
        task,
        config,
        data.prepared,
        model=model,
        args=args,
        compute_metrics=make_compute_metrics(task, data.label_names, data.target_scale),
        callbacks=callbacks,
        class_weights=class_weights,
    )


def _log_locally(trainer: Any, args: Any, config: RunConfig, run_dir: Path, replaced: Path | None) -> Tracker:
    """The main process's loggers: TensorBoard in logs/, the replaced run's cleanup, MLflow / W&B (returned
    unopened: a tracker whose start fails is closed as failed)."""
    from torch.utils.tensorboard import SummaryWriter
    from transformers.integrations import TensorBoardCallback

    trainer.add_callback(TensorBoardCallback(tb_writer=SummaryWriter(log_dir=str(run_dir / "logs"))))
    if replaced is not None:
        trainer.add_callback(drop_replaced_on_save(replaced))
    return Tracker(args.report_to, config.name or run_dir.name, config.to_dict())


def _write(
    trainer: Any, config: RunConfig, task: Task, data: _Data, run_dir: Path, outputs: tuple[Any, Any],
    model: Any, info: Any, precision: str, extra: dict[str, Any],
) -> dict[str, Any]:  # fmt: skip
    """The writing stage: the target scale folded into the head, then (main process) the run directory's
    results, predictions, plots, model and card; returns the results ({} on other processes)."""
    test_output, train_output = outputs
    if data.target_scale is not None:  # every process, so that the weights gathered below are folded too
        fold_target_scale(trainer.model, *data.target_scale)
    # FSDP shards the weights over the processes: all of them join the gather, rank 0 saves the whole
    # model (plain transformers / peft then load model/ exactly as after DDP).
    full_weights = trainer.accelerator.get_state_dict(trainer.model) if trainer.is_fsdp_enabled else None
    if trainer.args.process_index != 0:
        return {}
    metrics = train_output.metrics
    return write_results(
        run_dir=run_dir,
        config=config,
        task=task,
        trainer=trainer,
        prepared=data.prepared,
        raw_test=data.dd["test"],
        test_output=test_output,
        label_names=data.label_names,
        target_scale=data.target_scale,
        state_dict=full_weights,
        extra={
            "dataset": dataset_name(config.data),
            "base_model": model_id(config.model.name_or_path),  # a Hub cache folder: its id
            "method": config.method.name,
            "trainable_params": count_params(trainer.model)[0],  # after every phase (probe_unfreeze grows it)
            "total_params": info.total_params,
            **({"pooling": info.pooling} if info.pooling != "cls" else {}),  # cls: as before
            "train_runtime_s": round(metrics.get("train_runtime", 0.0), 3),
            "train_samples_per_s": round(metrics.get("train_samples_per_second", 0.0), 3),
            "precision": precision,
            "attn_implementation": getattr(model.config, "_attn_implementation", None),
            "world_size": trainer.args.world_size,
            "fieldtune_version": __version__,
            **extra,
            **{k: v for k, v in data.report.items() if k != TEXT_COLUMNS_KEY},  # the columns: config.json
        },
    )


def _undo(run_dir: Path, replaced: Path | None, resume: bool) -> None:
    """A failed run: the replaced run comes back (no checkpoint yet), or nothing is left half-written."""
    if replaced is not None and replaced.is_dir():  # no checkpoint yet: the old run comes back
        restore_run_dir(run_dir, replaced)
    elif not resume and not worth_resuming(run_dir):  # nothing to resume: leave nothing half-written
        shutil.rmtree(run_dir, ignore_errors=True)


__all__ = [
    "INCOMPLETE", "RunResult", "class_weight_tensor", "last_complete_checkpoint", "resolve_run_dir", "run",
    "run_baseline",
]  # fmt: skip
