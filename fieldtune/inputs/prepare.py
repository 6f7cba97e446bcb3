"""Builder output -> model-ready datasets, collator and processor (tokeniser or image processor)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from datasets import DatasetDict

from fieldtune.config import RunConfig
from fieldtune.inputs.prepared import Prepared
from fieldtune.modeling.checkpoint import resolve_model_path
from fieldtune.targets import TARGETS, Targets
from fieldtune.tasks.scoring import label_names_of
from fieldtune.tasks.table import IMAGE, TEXT, Task

if TYPE_CHECKING:
    from fieldtune.datasets_builders.folds import FoldRows


# `distill.teacher`: the teacher's logits of each training row (`fieldtune.trainers.distillation`)
TEACHER_COLUMN = "teacher_logits"


class TextCollator:
    """Dynamic padding: each batch is padded to its own longest text, never to a fixed length. A training
    split with the teacher's logits (`TEACHER_COLUMN`) gives them as a float tensor of the same name."""

    def __init__(
        self, tokenizer: Any, targets: Targets = TARGETS["classes"], num_labels: int | None = None
    ) -> None:
        from transformers import DataCollatorWithPadding

        self.pad = DataCollatorWithPadding(tokenizer, pad_to_multiple_of=None)
        self.targets = targets  # how a batch's labels are built: class ids, multi-hot sets or numbers
        self.num_labels = num_labels  # tags: label-id lists become multi-hot float targets (BCE)

    def __call__(self, features: list[dict]) -> dict:
        keep = ("input_ids", "attention_mask", "token_type_ids")
        batch = self.pad([{k: f[k] for k in keep if k in f} for f in features])
        if "label" in features[0]:
            batch["labels"] = self.targets.label_tensor([f["label"] for f in features], self.num_labels)
        if TEACHER_COLUMN in features[0]:
            import torch

            batch[TEACHER_COLUMN] = torch.tensor([f[TEACHER_COLUMN] for f in features], dtype=torch.float32)
        return batch


def prepare_text(task: Task, dd: DatasetDict, config: RunConfig, pool: FoldRows | None = None) -> Prepared:
    from fieldtune.datasets_builders.data_report import note
    from fieldtune.inputs.coverage import check_coverage
    from fieldtune.inputs.text import load_tokenizer, tokenize_dataset

    tokenizer = load_tokenizer(resolve_model_path(config.model.name_or_path), config.model.revision)
    limit = min(
        config.model.max_length, getattr(tokenizer, "model_max_length", None) or config.model.max_length
    )
    # the saved tokenizer carries the run's limit: predict / evaluate / export / serve read the same tokens
    tokenizer.model_max_length = limit
    coverage = check_coverage(tokenizer, dd["train"]["text"], limit, config.data, config.model.name_or_path)
    note("tokenizer_coverage", coverage)
    dataset = tokenize_dataset(dd, tokenizer, config.model.max_length, pool=pool)
    names = label_names_of(dd["train"].features["label"])
    collator = TextCollator(tokenizer, task.targets, num_labels=len(names or []))
    return Prepared(dataset, collator, tokenizer)


def _prepare_images(task: Task, dd: DatasetDict, config: RunConfig, pool: FoldRows | None = None) -> Prepared:
    from fieldtune.inputs.prepare_images import prepare_images  # the image pipeline (PIL), on demand

    return prepare_images(task, dd, config, pool)


# How each kind of input (`Task.inputs`) is prepared, by its name (a variant made with `dataclasses.replace`
# keeps its row); a new `Modality` in `fieldtune.tasks` adds its row.
PREPARE = {TEXT.name: prepare_text, IMAGE.name: _prepare_images}


def prepare_inputs(task: Task, dd: DatasetDict, config: RunConfig, pool: FoldRows | None = None) -> Prepared:
    """`pool`: a cross-validation fold's rows of the pooled data, prepared once for every fold."""
    return PREPARE[task.inputs.name](task, dd, config, pool)
