"""What input preparation hands the trainer: model-ready datasets, collator and processor."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from datasets import DatasetDict


@dataclass
class Prepared:
    dataset: DatasetDict  # model-ready columns (+ the raw ones the collator ignores)
    collator: Callable
    processor: Any  # saved beside the model so plain transformers can preprocess the same way
    trainer_class: type | None = None
    trainer_kwargs: dict[str, Any] = field(default_factory=dict)
    sample_plot: Callable | None = None  # images: (raw test, predicted, true label text, path) -> samples.png
