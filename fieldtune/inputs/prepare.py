"""Builder output -> model-ready datasets, collator and processor (tokeniser or image processor)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from datasets import DatasetDict

from fieldtune.config import RunConfig
from fieldtune.inputs.prepared import Prepared
from fieldtune.modeling.checkpoint import resolve_model_path
from fieldtune.scoring import label_names_of
from fieldtune.targets import TARGETS, Targets
from fieldtune.tasks import Task

if TYPE_CHECKING:
    from fieldtune.datasets_builders.folds import FoldRows


class TextCollator:
    """Dynamic padding: each batch is padded to its own longest text, never to a fixed length."""

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


def prepare_inputs(task: Task, dd: DatasetDict, config: RunConfig, pool: FoldRows | None = None) -> Prepared:
    """`pool`: a cross-validation fold's rows of the pooled data, prepared once for every fold."""
    if task.modality == "text":
        return prepare_text(task, dd, config, pool)
    from fieldtune.inputs.prepare_images import prepare_images

    return prepare_images(task, dd, config, pool)
