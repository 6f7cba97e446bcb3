"""Dataset builders: data config -> `DatasetDict` with train / validation / test and typed features.

Importing this package registers every built-in builder.
"""

from __future__ import annotations

from datasets import DatasetDict

from fieldtune.config import DataConfig
from fieldtune.datasets_builders import (  # noqa: F401  (importing registers them)
    cargo_images,
    cargo_tags,
    geology_images,
    hs_codes,
    image_folder,
    logistics_demand,
    text_table,
)
from fieldtune.datasets_builders.registry import builder_names, dataset_name, get_builder, register_builder

__all__ = ["build_dataset", "builder_names", "dataset_name", "get_builder", "register_builder"]


def build_dataset(config: DataConfig, task: str) -> DatasetDict:
    """Run the builder named by `config.builder` for `task`; `data.max_train_samples` caps train (any builder)."""
    dd = get_builder(config.builder)(config, task)
    if config.max_train_samples and len(dd["train"]) > config.max_train_samples:
        dd["train"] = dd["train"].shuffle(seed=config.seed).select(range(config.max_train_samples))
    return dd
