"""A run's default name: the recipe's file name, unless the command line replaced what the recipe is about.

`configs/demo/geology_vit_lora.yaml --data.path=shapes/` trains on the user's shapes, not on rock samples:
naming it `geology_vit_lora` (and printing "geology_vit_lora: test split") says the wrong thing. When an
override changes an identity key (`IDENTITY_KEYS`: the task, the data, its labels, the model or the
method), the run is named `<data>_<model>_<method>`, e.g. `orders_all-MiniLM-L6-v2_lora` (a model in the
Hugging Face cache by its Hub name, not its snapshot's commit hash); `name:` in the recipe or `--name=...`
always wins.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fieldtune.config.recipe_paths import model_id

IDENTITY_KEYS = (
    ("task",),
    ("model", "name_or_path"),
    ("data", "builder"),
    ("data", "path"),
    ("data", "label_column"),
    ("data", "label_columns"),
    ("method", "name"),
)
DATA_SUFFIXES = (".csv", ".tsv", ".txt", ".json", ".jsonl", ".parquet", ".xlsx")


def _overridden(tree: Mapping[str, Any], key: tuple[str, ...]) -> bool:
    node: Any = tree
    for part in key:
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True


def _part(text: str) -> str:
    """A file-name-safe piece: the last path component, without a file suffix."""
    path = Path(str(text).rstrip("/\\"))
    stem = path.stem if path.suffix.lower() in DATA_SUFFIXES else path.name  # a model id keeps its dots
    return re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-.") or "data"


def default_run_name(recipe: str | Path, config: Any, override_tree: Mapping[str, Any]) -> str:
    """The recipe's stem; `<data>_<model>_<method>` when an override changed an identity key."""
    if not any(_overridden(override_tree, key) for key in IDENTITY_KEYS):
        return Path(recipe).stem
    data = config.data.path or config.data.builder
    return "_".join(_part(p) for p in (data, model_id(config.model.name_or_path), config.method.name))
