"""Cross-field rules of `data.label_columns`: one 0/1 column per label, for tasks whose targets are tag sets."""

from __future__ import annotations

from typing import Any

from fieldtune.errors import ConfigError


def check_label_columns(data: Any, task: Any) -> None:
    """Raise `ConfigError` unless `data.label_columns` (when set) fits the task and the other data fields.

    Args:
        data (`DataConfig`): The data section.
        task (`Task`): The run's task; its `targets` must be tag sets for `label_columns`.
    """
    columns = data.label_columns
    if columns is None:
        return
    if not task.targets.label_sets:
        raise ConfigError(
            f"`data.label_columns` (one 0/1 column per label) is only valid for multi-label tasks; this run is "
            f"{task.name}: use `data.label_column`, or a multi-label task such as text-multilabel."
        )
    if task.inputs.files:  # image builders read label sets from metadata files
        raise ConfigError(
            f"`data.label_columns` is read from text tables; for {task.name}, list each file's labels in "
            "metadata.jsonl (a list) or metadata.csv (joined by data.label_delimiter) under `data.label_column`."
        )
    if data.label_column is not None:
        raise ConfigError(
            "`data.label_column` and `data.label_columns` are both set; keep one (a column of label lists, "
            "or one 0/1 column per label)."
        )
    if not columns or any(not isinstance(c, str) or not c.strip() for c in columns):
        raise ConfigError(
            f"`data.label_columns`: {columns!r} must list one or more column names, one per label."
        )
    twice = sorted({c for c in columns if columns.count(c) > 1})
    if twice:
        raise ConfigError(f"`data.label_columns` names {twice[0]!r} twice; list each label column once.")
    shared = sorted(set(columns) & set(data.text_columns or []))
    if shared:
        raise ConfigError(
            f"`data.label_columns` and `data.text_columns` both name {shared[0]!r}; a column is text or a label."
        )
