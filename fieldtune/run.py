"""`run(config)`: the one function the CLI and the tests call to train, evaluate and write a run directory.

config -> builder -> preprocessing -> model -> trainer -> run directory -> (hub)
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
from fieldtune.class_weights import class_weight_tensor
from fieldtune.config import RunConfig, save_config
from fieldtune.datasets_builders import build_dataset
from fieldtune.datasets_builders.data_report import describe, recording
from fieldtune.datasets_builders.folds import cv_split
from fieldtune.datasets_builders.normalize import CONFIG_KEY as NORMALIZE_KEY
from fieldtune.datasets_builders.text_table import TEXT_COLUMNS_KEY
from fieldtune.errors import ConfigError
from fieldtune.inputs.prepare import prepare_inputs
from fieldtune.modeling.create import count_params, create_model
from fieldtune.modeling.dropout import has_dropout
from fieldtune.modeling.heads import fold_target_scale
from fieldtune.modeling.precision import resolve_attention, resolve_precision
from fieldtune.preflight import preflight, resolve_run_dir
from fieldtune.rundir.layout import (
    INCOMPLETE,
    drop_replaced_run,
    finish_run_dir,
    is_run_dir,
    restore_run_dir,
    start_run_dir,
)
from fieldtune.rundir.results import dataset_name, final_validation, write_results
from fieldtune.scoring import label_names_of, standardise, targets_of
from fieldtune.tasks import Task, get_task
from fieldtune.tracking import Tracker

logger = logging.getLogger(__name__)


@dataclass
class RunResult:
    run_dir: Path
    results: dict[str, Any]


def last_complete_checkpoint(checkpoints: Path) -> str | None:
    """The newest checkpoint with its trainer state and weights written; a half-written one is skipped."""
    if not checkpoints.is_dir():
        return None
    candidates = sorted(
        (p for p in checkpoints.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()),
        key=lambda p: int(p.name.split("-")[-1]),
        reverse=True,
    )
    for ckpt in candidates:
        has_weights = any(
            (ckpt / f).is_file()
            for f in ("model.safetensors", "adapter_model.safetensors", "pytorch_model.bin")
        )
        if (ckpt / "trainer_state.json").is_file() and has_weights and (ckpt / "optimizer.pt").is_file():
            return str(ckpt)
        logger.warning("Skipping incomplete checkpoint %s", ckpt)
    return None


def _process_group(config: RunConfig, use_cpu: bool) -> Any:
    """The accelerate `PartialState` (process group when launched) made before TrainingArguments, with the
    arguments TrainingArguments would give it, so that data preparation can run main-process-first."""
    from datetime import timedelta

    from accelerate import PartialState

    extra = config.training.extra
    return PartialState(
        cpu=use_cpu,
        backend=extra.get("ddp_backend"),
        timeout=timedelta(seconds=int(extra.get("ddp_timeout", 1800))),
    )


def drop_replaced_on_save(replaced: Path) -> Any:
    """With --overwrite, the replaced run is deleted once the new run has a checkpoint to resume from."""
    from transformers import TrainerCallback

    class DropReplacedRun(TrainerCallback):
        def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            drop_replaced_run(replaced)

    return DropReplacedRun()


def _calibrate(trainer: Any, task: Task, prepared: Any, dd: Any, label_names: list[str] | None) -> Any:
    """Decision settings tuned on the validation split (tags: one threshold per label; 0.5 without a
    validation split), written into the model's config so every loader of the saved model decides alike.
    Returns the validation logits they were tuned on (None: nothing to tune)."""
    targets = targets_of(task)
    if not targets.calibrates:
        return None
    logits = None
    if "validation" in prepared.dataset:
        logits = _logits_of(trainer.predict(prepared.dataset["validation"], metric_key_prefix="validation"))
        refs = targets.references(dd["validation"]["label"], len(label_names or []))
        decision = targets.calibrate(logits, refs)
    else:
        decision = {"fieldtune_thresholds": [0.5] * len(label_names or [])}
    for key, value in decision.items():
        setattr(trainer.model.config, key, value)
    return logits


def _logits_of(output: Any) -> Any:
    preds = output.predictions
    return preds[0] if isinstance(preds, tuple) else preds


def _push_finished_run(run_dir: Path, config: RunConfig) -> None:
    from fieldtune.errors import FieldtuneError, HubError
    from fieldtune.publish import publish

    try:
        publish(
            run_dir,
            config.hub.repo_id,
            private=config.hub.private,
            merge=config.hub.merge,
            revision=config.hub.revision,
            include_predictions=config.hub.include_predictions,
        )
    except FieldtuneError as e:
        raise HubError(
            f"The run is saved in {run_dir}, but the push failed: {e} "
            f"Retry with `fieldtune push {run_dir} --repo-id {config.hub.repo_id}`."
        ) from None


def run_baseline(
    config: RunConfig, output_dir: str | Path | None = None, overwrite: bool = False
) -> RunResult:
    """The classical model a user would try first, on exactly the recipe's split, as a run directory.

    Text (`Modality.baseline == "tfidf"`): word + char TF-IDF and a linear model (`fieldtune.baselines`).
    Images (`"probe"`): the recipe's backbone frozen, a linear head trained on its cached features: the
    normal run with `method.name: probe`. Both results carry `baseline` (what it is), which the leaderboard marks.
    """
    task: Task = get_task(config.task)
    run_dir = resolve_run_dir(config, output_dir)
    if task.inputs.baseline is None:
        raise ConfigError(
            f"`fieldtune baseline`: task {task.name} has no baseline yet; compare against another run instead."
        )
    if task.inputs.baseline == "probe":
        method = dataclasses.replace(config.method, name="probe", feature_cache=True)
        backbone = config.model.name_or_path
        info = {
            "kind": "probe",
            "model": f"linear probe on frozen {backbone} features",
            "library": "transformers",
        }
        return run(dataclasses.replace(config, method=method), output_dir, overwrite, baseline=info)
    from fieldtune.baselines.run import fit_text_baseline
    from fieldtune.baselines.tfidf import check_settings

    check_settings(task, config.baseline)
    preflight(config, run_dir, overwrite, model=False)  # before anything heavy; no transformers model
    results = fit_text_baseline(config, task, run_dir, overwrite)
    if config.hub.push:
        _push_finished_run(run_dir, config)
    return RunResult(run_dir, results)


def run(
    config: RunConfig,
    output_dir: str | Path | None = None,
    overwrite: bool = False,
    resume: bool = False,
    checked: bool = False,
    baseline: dict[str, str] | None = None,
    callbacks: Sequence[Any] = (),
) -> RunResult:
    """Train, evaluate on the test split and write the run directory. Returns where and what.

    `checked`: the caller already ran `fieldtune.preflight.preflight` for this config and run directory.
    `callbacks` are extra `TrainerCallback`s for the outer trainer (a sweep's pruning callback).
    `method.name: baseline` fits the task's baseline instead (`run_baseline`; seconds, no checkpoints, so
    `resume` fits it again).
    """
    if config.method.name == "baseline":  # no checkpoints: resuming one (a sweep's trial) fits it again
        again = resume and is_run_dir(resolve_run_dir(config, output_dir))
        return run_baseline(config, output_dir, overwrite or again)
    from transformers import EarlyStoppingCallback, set_seed

    from fieldtune.trainers import build_training_args, make_trainer

    run_dir = resolve_run_dir(config, output_dir)
    # before anything heavy; every process of a launch checks (none has written the run directory yet)
    task: Task = get_task(config.task) if checked else preflight(config, run_dir, overwrite, resume)
    use_cpu = not torch.cuda.is_available()
    precision = resolve_precision(config.training.precision, use_cpu)
    if (
        config.training.early_stopping_patience
        and config.data.validation_size <= 0
        and config.cv.fold is None  # a fold's run has its fold as validation
    ):
        raise ConfigError(
            "`training.early_stopping_patience` needs a validation split; set `data.validation_size` > 0."
        )
    set_seed(config.training.seed)

    # Multi-process (accelerate launch): rank 0 builds the data first (synthetic images, decoded-pixel and
    # datasets caches written once), the other ranks then read them. The barrier also closes a race: every
    # rank's check_run_dir_free above runs before rank 0 can reach start_run_dir below, so no rank sees
    # rank 0's fresh run directory and refuses it. Single process: a no-op.
    # data_report: the encodings read, the text normalisation, the tokenizer coverage (for eval_results.json)
    with _process_group(config, use_cpu).main_process_first(), recording() as data_report:
        dd = build_dataset(config.data, task.name)
        # `fieldtune train --cv K`: a fold's run validates on its fold; the refit trains on all pooled rows
        dd = cv_split(dd, config.cv, config.data.seed, dataset_name(config.data))
        label_names = label_names_of(dd["train"].features["label"])
        target_scale = None
        if task.scaled_target:
            dd, target_scale = standardise(dd)
        # preparing checks first whether the model can read the data at all (tokenizer coverage)
        prepared = prepare_inputs(task, dd, config)
        if config.ensemble.enabled:  # the baseline half's data checks, before any training
            from fieldtune.baselines.ensemble import check_ensemble_data

            check_ensemble_data(config, task, dd)
    for line in describe(data_report):
        logger.info("%s", line)
    attention = resolve_attention(config.model.attn_implementation, precision, use_cpu)
    model, info = create_model(
        config.model, task, label_names, config.method, config.data.image_size, attention
    )
    if config.training.r_drop and not has_dropout(model):  # two passes that could only agree: no regulariser
        raise ConfigError(
            f"`training.r_drop` compares two dropout masks, but {config.model.name_or_path} has no dropout "
            "(every dropout probability is 0); set `model.dropout` > 0 (e.g. 0.1) or remove `training.r_drop`."
        )
    if "normalization" in data_report:  # predict / evaluate normalise their inputs the same way
        setattr(model.config, NORMALIZE_KEY, data_report["normalization"]["mode"])
    text_columns = data_report.pop(TEXT_COLUMNS_KEY, None)
    if text_columns:  # the data mapping travels with the model (exports too): predict reads these columns
        setattr(model.config, TEXT_COLUMNS_KEY, text_columns)
    has_validation = "validation" in prepared.dataset
    args = build_training_args(
        config.training, run_dir / "checkpoints", task, has_validation, precision, use_cpu,
        train_size=len(prepared.dataset["train"]),
    )  # fmt: skip
    from fieldtune.scoring import make_compute_metrics

    callbacks = list(callbacks)
    if config.training.early_stopping_patience:
        callbacks.append(
            EarlyStoppingCallback(early_stopping_patience=config.training.early_stopping_patience)
        )
    class_weights = (
        class_weight_tensor(config.training.class_weights, dd["train"]["label"], label_names)
        if label_names
        else None
    )
    is_main = args.process_index == 0
    replaced = None  # with --overwrite, the old run, moved aside: it comes back if the new run fails early
    if is_main:  # only now, with data, model and arguments valid, does anything get written
        replaced = start_run_dir(run_dir, overwrite, resume)
    tracker = None  # MLflow / W&B, opened before training so every trainer of this run logs into one run
    try:
        if is_main:
            save_config(config, run_dir / "config.yaml", task.modality)
        trainer = make_trainer(
            task,
            config,
            prepared,
            model=model,
            args=args,
            compute_metrics=make_compute_metrics(task, label_names, target_scale),
            callbacks=callbacks,
            class_weights=class_weights,
        )
        if is_main:
            from torch.utils.tensorboard import SummaryWriter
            from transformers.integrations import TensorBoardCallback

            trainer.add_callback(TensorBoardCallback(tb_writer=SummaryWriter(log_dir=str(run_dir / "logs"))))
            if replaced is not None:
                trainer.add_callback(drop_replaced_on_save(replaced))
            tracker = Tracker(args.report_to, config.name or run_dir.name, config.to_dict())
            tracker.start()
        checkpoint = last_complete_checkpoint(run_dir / "checkpoints") if resume else None
        train_output = trainer.train(resume_from_checkpoint=checkpoint)
        with trainer.saved_precision():  # what model/ does when loaded, not the bf16 autocast of training
            test_output = trainer.predict(prepared.dataset["test"], metric_key_prefix="test")
            # what model selection saw (sweeps choose on it, never on test); every process joins the evaluation
            validation = final_validation(trainer, prepared.dataset, task)
            validation_logits = _calibrate(trainer, task, prepared, dd, label_names)
            choose_on = validation_logits  # the ensemble's weight (`auto`) and, for tags, thresholds
            if choose_on is None and config.ensemble.baseline_weight == "auto":
                choose_on = _logits_of(trainer.predict(prepared.dataset["validation"]))
        ensemble = None  # (fitted baseline, results entry): the run's scores become the ensemble's
        if config.ensemble.enabled and is_main:
            from fieldtune.baselines.ensemble import ensemble_test

            pipeline, mixed, entry = ensemble_test(
                config, task, dd, label_names, class_weights, _logits_of(test_output), choose_on,
                trainer.model.config,
            )  # fmt: skip
            test_output, ensemble = test_output._replace(predictions=mixed), (pipeline, entry)

        check = None  # the recipe's TF-IDF baseline on validation: is the run clearly below it?
        if is_main and wants_check(config, task, dd):
            thresholds = getattr(trainer.model.config, "fieldtune_thresholds", None)
            check = baseline_check(
                config, task, dd, label_names, validation, validation_logits, thresholds, target_scale
            )
        results: dict[str, Any] = {}
        if target_scale is not None:  # every process, so that the weights gathered below are folded too
            fold_target_scale(trainer.model, *target_scale)
        # FSDP shards the weights over the processes: all of them join the gather, rank 0 saves the whole
        # model (plain transformers / peft then load model/ exactly as after DDP).
        full_weights = trainer.accelerator.get_state_dict(trainer.model) if trainer.is_fsdp_enabled else None
        if is_main:
            results = write_results(
                run_dir=run_dir,
                config=config,
                task=task,
                trainer=trainer,
                prepared=prepared,
                raw_test=dd["test"],
                test_output=test_output,
                label_names=label_names,
                target_scale=target_scale,
                state_dict=full_weights,
                extra={
                    "dataset": dataset_name(config.data),
                    "base_model": config.model.name_or_path,
                    "method": config.method.name,
                    "trainable_params": count_params(trainer.model)[
                        0
                    ],  # after every phase (probe_unfreeze grows it)
                    "total_params": info.total_params,
                    **({"pooling": info.pooling} if info.pooling != "cls" else {}),  # cls: as before
                    "train_runtime_s": round(train_output.metrics.get("train_runtime", 0.0), 3),
                    "train_samples_per_s": round(
                        train_output.metrics.get("train_samples_per_second", 0.0), 3
                    ),
                    "precision": precision,
                    "attn_implementation": getattr(model.config, "_attn_implementation", None),
                    "world_size": trainer.args.world_size,
                    "fieldtune_version": __version__,
                    **({"baseline": baseline} if baseline else {}),
                    **({"ensemble": ensemble[1]} if ensemble else {}),
                    **({"baseline_check": check} if check else {}),
                    "validation_metrics": validation,
                    **data_report,
                },
            )
            if ensemble:  # beside the transformer's files, which write_results has just put in place
                from fieldtune.baselines.ensemble import save_ensemble

                save_ensemble(ensemble[0], run_dir / "model", task, label_names, ensemble[1])
            finish_run_dir(run_dir)  # the run is complete whether or not the push below succeeds
    except BaseException:
        if tracker is not None:
            tracker.fail()
        if is_main:
            if replaced is not None and replaced.is_dir():  # no checkpoint yet: the old run comes back
                restore_run_dir(run_dir, replaced)
            elif not resume and not any((run_dir / "checkpoints").glob("checkpoint-*")):
                # nothing worth resuming: leave nothing half-written
                shutil.rmtree(run_dir, ignore_errors=True)
        raise
    if is_main:
        drop_replaced_run(replaced)
        tracker.finish(
            test_output.metrics,
            trainer.state.global_step,
            [run_dir / "config.yaml", run_dir / "eval_results.json"],
        )
        if config.hub.push:
            _push_finished_run(run_dir, config)
    trainer.accelerator.wait_for_everyone()  # other ranks return once rank 0 has written the run
    return RunResult(run_dir, results)


__all__ = ["INCOMPLETE", "RunResult", "class_weight_tensor", "resolve_run_dir", "run", "run_baseline"]
