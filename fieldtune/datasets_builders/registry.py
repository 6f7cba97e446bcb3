"""Registry of dataset builders: the one open-ended set in fieldtune (users and domains add builders).

A builder is a function `(DataConfig, task) -> DatasetDict` with splits `train`, `validation`, `test`
and standard columns: `text` (Value string) or `image` (Image), and `label` (ClassLabel for
classification, Value float32 for regression).
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable

from datasets import DatasetDict

from fieldtune.errors import ConfigError

Builder = Callable[..., DatasetDict]
_BUILDERS: dict[str, Builder] = {}


def register_builder(name: str) -> Callable[[Builder], Builder]:
    """Register `fn(config, task) -> DatasetDict` under `name`; names are unique."""

    def wrap(fn: Builder) -> Builder:
        if not name or not name.replace("_", "").isalnum():
            raise ValueError(f"builder name {name!r} must be letters, digits and underscores")
        if name in _BUILDERS and _BUILDERS[name] is not fn:
            raise ValueError(f"a dataset builder named {name!r} is already registered")
        if len(inspect.signature(fn).parameters) != 2:
            raise ValueError(f"builder {name!r} must take (config, task)")
        _BUILDERS[name] = fn
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
