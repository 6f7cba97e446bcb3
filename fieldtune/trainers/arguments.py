"""`training:` section -> `transformers.TrainingArguments`, with fieldtune's defaults and one-line errors."""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any

import torch
from transformers import TrainingArguments

from fieldtune import progress
from fieldtune.config import TrainingConfig
from fieldtune.errors import ConfigError
from fieldtune.tasks.table import Task
from fieldtune.tracking import resolve_report_to

logger = logging.getLogger(__name__)


def auto_dataloader_workers(use_cpu: bool) -> int:
    """DataLoader worker processes per training process. On a CPU, 0: the step already uses every core,
    and batches come from the decoded cache with cheap tensor work (the peer's whole PIL pipeline was ~2% of
    a CPU step). On a GPU, the CPU cores this process owns, less one for itself, at most 4: collation and
    augmentation then overlap the GPU step without oversubscribing the cores (each worker runs 1 thread)."""
    if use_cpu or not torch.cuda.is_available():
        return 0
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    per_process = cores // max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))  # set by accelerate launch
    return max(0, min(4, per_process - 1))


def epochs_for(training: TrainingConfig, train_size: int | None, world_size: int = 1) -> float:
    """`num_train_epochs`, raised to the whole epochs that give at least `training.min_steps` optimizer
    steps over `train_size` rows (unchanged without `min_steps`, without a size, or with `max_steps`).

    1,076 texts at batch 16 for 5 epochs are ~235 steps, and the loss was still falling at the end; data
    with many rows already gets its steps from the epochs, so the fast recipes stay fast."""
    epochs = training.num_train_epochs
    if not training.min_steps or not train_size or int(training.extra.get("max_steps", -1)) > 0:
        return epochs
    batches = math.ceil(train_size / (training.per_device_train_batch_size * max(1, world_size)))
    per_epoch = max(1, math.ceil(batches / training.gradient_accumulation_steps))
    needed = math.ceil(training.min_steps / per_epoch)
    if needed <= epochs:
        return epochs
    logger.info(
        "training.min_steps %d: %d rows give %d optimizer steps per epoch, so %d epochs instead of %g "
        "(early stopping still ends the run when validation stops improving)",
        training.min_steps, train_size, per_epoch, needed, epochs,
    )  # fmt: skip
    return float(needed)


def build_training_args(
    training: TrainingConfig,
    output_dir: Path,
    task: Task,
    has_validation: bool,
    precision: str,
    use_cpu: bool,
    train_size: int | None = None,
) -> TrainingArguments:
    """Fieldtune's defaults (evaluate and save every epoch, keep the best, TensorBoard, length grouping),
    then the user's pass-through keys, validated by `TrainingArguments` itself. `train_size` (rows of the
    train split) lets `training.min_steps` raise the epochs (`epochs_for`)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))  # set by accelerate launch
    args: dict[str, Any] = {
        "output_dir": str(output_dir),
        "num_train_epochs": epochs_for(training, train_size, world_size),
        "learning_rate": training.learning_rate,
        "per_device_train_batch_size": training.per_device_train_batch_size,
        "per_device_eval_batch_size": training.per_device_eval_batch_size,
        "gradient_accumulation_steps": training.gradient_accumulation_steps,
        "weight_decay": training.weight_decay,
        "warmup_steps": training.warmup_ratio,  # a float in [0, 1) is a ratio of the total steps
        "seed": training.seed,
        "eval_strategy": "epoch" if has_validation else "no",
        "save_strategy": "epoch",
        "save_total_limit": 2,
        "load_best_model_at_end": has_validation,
        "metric_for_best_model": task.primary_metric if has_validation else None,
        "greater_is_better": task.greater_is_better if has_validation else None,
        "logging_strategy": "steps",
        "logging_steps": 10,
        "report_to": "none",  # TensorBoard is attached as a callback writing into the run's logs/
        "bf16": precision == "bf16",
        "fp16": precision == "fp16",
        "use_cpu": use_cpu,
        "disable_tqdm": progress.mode()
        != "bar",  # log lines or nothing instead (trainers/progress_callback.py)
        "dataloader_num_workers": auto_dataloader_workers(use_cpu),
        "dataloader_pin_memory": not use_cpu,  # pinned pages only help copies to a GPU
        "remove_unused_columns": False,  # inputs are built by fieldtune's collators (transformers#17894)
    }
    args.update(task.inputs.trainer_args)  # text: batches of similar lengths (less padding)
    args.update(training.extra)
    # the Trainer's integrations (mlflow, wandb, ...); fieldtune's own TensorBoard callback is always there
    args["report_to"] = resolve_report_to(args["report_to"])
    # workers kept between epochs: restarting them each epoch re-pickles the dataset and the collator
    args.setdefault("dataloader_persistent_workers", args["dataloader_num_workers"] > 0)
    try:
        built = TrainingArguments(**args)
    except (TypeError, ValueError) as e:
        key = _culprit(args, training.extra)
        message = " ".join(str(e).split())[:200]
        where = f"`training.{key}` ({training.extra[key]!r})" if key else "`training`"
        raise ConfigError(f"{where}: TrainingArguments rejected it: {message}") from None
    _check_later_uses(built, training.extra)
    return built


def _check_later_uses(args: TrainingArguments, extra: dict[str, Any]) -> None:
    """Pass-through values TrainingArguments keeps unchecked and a library rejects only once training starts
    (the DataLoader, transformers' scheduler factory, accelerate's dynamo backends): checked the same way now."""
    if args.dataloader_num_workers < 0:
        raise ConfigError(
            f"`training.dataloader_num_workers` ({args.dataloader_num_workers}): give 0 (load in the training "
            "process) or more worker processes."
        )
    if "lr_scheduler_kwargs" in extra or "lr_scheduler_type" in extra:
        from transformers import get_scheduler

        optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        try:  # built as Trainer.create_scheduler builds it, on a throwaway optimizer
            get_scheduler(
                args.lr_scheduler_type, optimizer, num_warmup_steps=0, num_training_steps=10,
                scheduler_specific_kwargs=args.lr_scheduler_kwargs,
            )  # fmt: skip
        except (TypeError, ValueError) as e:
            message = " ".join(str(e).split())[:200]
            raise ConfigError(
                f"`training.lr_scheduler_kwargs` ({args.lr_scheduler_kwargs!r}) does not fit the "
                f"{args.lr_scheduler_type.value} scheduler: {message}; fix or remove the keys."
            ) from None
    if args.torch_compile_backend is not None:
        from accelerate.utils import DynamoBackend

        try:
            DynamoBackend(str(args.torch_compile_backend).upper())
        except ValueError:
            names = ", ".join(b.value.lower() for b in DynamoBackend if b.value != "NO")
            raise ConfigError(
                f"`training.torch_compile_backend` ({args.torch_compile_backend!r}) is not a dynamo backend; "
                f"use one of {names}, or remove it."
            ) from None


def _culprit(args: dict[str, Any], extra: dict[str, Any]) -> str | None:
    """The pass-through key that makes TrainingArguments fail, tried one at a time."""
    base = {k: v for k, v in args.items() if k not in extra}
    for key, value in extra.items():
        try:
            TrainingArguments(**base, **{key: value})
        except (TypeError, ValueError):
            return key
    return None


def process_group(training: TrainingConfig, use_cpu: bool) -> Any:
    """The accelerate `PartialState` (process group when launched) made before TrainingArguments, with the
    arguments TrainingArguments would give it, so that data preparation can run main-process-first."""
    from datetime import timedelta

    from accelerate import PartialState

    extra = training.extra
    return PartialState(
        cpu=use_cpu,
        backend=extra.get("ddp_backend"),
        timeout=timedelta(seconds=int(extra.get("ddp_timeout", 1800))),
    )
