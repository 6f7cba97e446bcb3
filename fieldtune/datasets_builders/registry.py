"""Registry of dataset builders: the one open-ended set in fieldtune (users and domains add builders).

A builder is a function `(DataConfig, task) -> DatasetDict` with splits `train`, `validation`, `test`
and standard columns: `text` (Value string) or `image` (Image), and `label` (ClassLabel for
classification, Value float32 for regression). It also says how its runs' dataset is named on results
and leaderboards (`dataset_name`): runs are ranked per dataset name, so a builder that reads the user's own
file names it after that file (`named_by_path`), a generator by its own name.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable
from pathlib import Path

from datasets import DatasetDict

from fieldtune.config import DataConfig
from fieldtune.errors import ConfigError

Builder = Callable[..., DatasetDict]
Naming = Callable[[DataConfig], str]
_BUILDERS: dict[str, Builder] = {}
_NAMINGS: dict[str, Naming] = {}


def named_by_path(data: DataConfig) -> str:
    """A user's table / folder / Hub dataset: its file stem or folder name (`orders.csv` -> `orders`)."""
    if not data.path:
        return data.builder
    p = Path(data.path)
    return p.stem if p.suffix else p.name


def register_builder(name: str, dataset_name: Naming | None = None) -> Callable[[Builder], Builder]:
    """Register `fn(config, task) -> DatasetDict` under `name`; names are unique. `dataset_name(config)`
    names the dataset its runs are ranked on (default: the builder's name, e.g. a generator's)."""

    def wrap(fn: Builder) -> Builder:
        if not name or not name.replace("_", "").isalnum():
            raise ValueError(f"builder name {name!r} must be letters, digits and underscores")
        if name in _BUILDERS and _BUILDERS[name] is not fn:
            raise ValueError(f"a dataset builder named {name!r} is already registered")
        if len(inspect.signature(fn).parameters) != 2:
            raise ValueError(f"builder {name!r} must take (config, task)")
        _BUILDERS[name] = fn
        if dataset_name is not None:
            _NAMINGS[name] = dataset_name
        return fn

    return wrap


def get_builder(name: str) -> Builder:
    if name not in _BUILDERS:
        match = difflib.get_close_matches(name, list(_BUILDERS), n=1)
        hint = f"did you mean `{match[0]}`?" if match else f"choose one of {', '.join(sorted(_BUILDERS))}."
        raise ConfigError(f"`data.builder`: unknown builder {name!r}; {hint}")
    return _BUILDERS[name]


def builder_names() -> list[str]:
    return sorted(_BUILDERS)


def dataset_name(data: DataConfig) -> str:
    """A short, stable dataset name for results and leaderboards, as the builder names it."""
    naming = _NAMINGS.get(data.builder)
    return naming(data) if naming else data.builder
