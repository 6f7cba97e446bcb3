"""Dataset builders: data config -> `DatasetDict` with train / validation / test and typed features.

Importing this package registers every built-in builder.
"""

from __future__ import annotations

import contextlib

from datasets import DatasetDict

from fieldtune.config import DataConfig
from fieldtune.datasets_builders import hs_codes, logistics_demand, text_table  # noqa: F401  (registration)
from fieldtune.datasets_builders.registry import builder_names, get_builder, register_builder

with contextlib.suppress(ImportError):  # image builders register themselves when their module is present
    from fieldtune.datasets_builders import cargo_images, geology_images, image_folder  # noqa: F401

__all__ = ["build_dataset", "builder_names", "get_builder", "register_builder"]


def build_dataset(config: DataConfig, task: str) -> DatasetDict:
    """Run the builder named by `config.builder` for `task`."""
    return get_builder(config.builder)(config, task)
