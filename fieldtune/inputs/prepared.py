"""What input preparation hands the trainer: model-ready datasets, collators and processor."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from datasets import DatasetDict


@dataclass
class Prepared:
    dataset: DatasetDict  # model-ready columns (+ the raw ones the collator ignores)
    collator: Callable  # training batches (with augmentation where the inputs have it)
    processor: Any  # saved beside the model so plain transformers can preprocess the same way
    eval_collator: Callable | None = None  # evaluation / test batches, when they differ from training's
