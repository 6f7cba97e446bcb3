"""The text-table builder: CSV / JSONL / Parquet / Hub dataset -> `DatasetDict(text, label)`."""

from __future__ import annotations

import logging
from collections import Counter

import pandas as pd
from datasets import ClassLabel, Dataset, DatasetDict, Features, Sequence, Value

from fieldtune.config import DataConfig
from fieldtune.datasets_builders.data_report import note
from fieldtune.datasets_builders.labels import is_blank, label_names, numbers, tag_lists, tag_names
from fieldtune.datasets_builders.normalize import normalize_texts, resolve_mode
from fieldtune.datasets_builders.registry import named_by_path, register_builder
from fieldtune.datasets_builders.splits import split_dataset
from fieldtune.datasets_builders.tables import load_tables, require_columns
from fieldtune.errors import ConfigError, DataError
from fieldtune.tasks.table import get_task

logger = logging.getLogger(__name__)


FLAGS = {"1": 1, "0": 0, "1.0": 1, "0.0": 0, "true": 1, "false": 0, "yes": 1, "no": 0}


def _flags_to_tags(frame: pd.DataFrame, columns: list[str], source: str) -> pd.Series:
    """One 0/1 (true/false, yes/no) column per label -> a label list per row (the columns set to 1)."""
    hot = {}
    for column in columns:
        values = frame[column]
        flags = [FLAGS.get(str(v).strip().lower()) if not is_blank(v) else None for v in values]
        bad = next((i for i, f in enumerate(flags) if f is None), None)
        if bad is not None:
            raise DataError(
                f"{source}: row {bad + 1} of label column {column!r} is {values.iloc[bad]!r}; each label "
                "column holds 0/1, true/false or yes/no in every row."
            )
        hot[column] = flags
    return pd.Series([[c for c in columns if hot[c][i]] for i in range(len(frame))], index=frame.index)


def _tags_dataset(texts: dict, raw_labels: dict, config: DataConfig, label_column: str, source: str) -> dict:
    tags = {
        s: tag_lists(v.tolist(), f"{source} ({s})", label_column, config.label_delimiter)
        for s, v in raw_labels.items()
    }
    # every label column is a label, even one that is never 1 in train (check_tags says so)
    names = tag_names(tags, source, given=config.label_columns)
    features = Features({"text": Value("string"), "label": Sequence(ClassLabel(names=names))})
    return {s: Dataset.from_dict({"text": texts[s], "label": tags[s]}, features=features) for s in texts}


def _normalized(texts: dict[str, list[str]], mode: str, source: str) -> dict[str, list[str]]:
    """`data.normalize` on every split (mode resolved on train), counted in the log and the data report."""
    resolved = resolve_mode(mode, texts.get("train") or next(iter(texts.values())))
    out, total = {}, Counter()
    for split, values in texts.items():
        out[split], counts = normalize_texts(values, resolved)
        total.update(counts)
    if total["texts_changed"]:
        kinds = ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in total.items() if k != "texts_changed")
        logger.debug("%s: normalised %d texts (%s; %s)", source, total["texts_changed"], resolved, kinds)
    note(
        "normalization", {"mode": resolved, "setting": mode, **total, "texts_changed": total["texts_changed"]}
    )
    return out


TEXT_COLUMNS_KEY = "fieldtune_text_columns"  # config.json: the table columns the model reads, in order


def join_text_columns(frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    """One text per row from `columns` (blank cells left out, the rest joined with ' | '): how training
    reads a table, and how `predict` reads one."""
    parts = frame[columns].where(frame[columns].notna(), "").astype(str)
    return parts.apply(lambda row: " | ".join(s.strip() for s in row if s.strip()), axis=1)


def frames_to_dataset(
    frames: dict[str, pd.DataFrame],
    config: DataConfig,
    task: str,
    text_columns: list[str],
    label_column: str,
    source: str,
) -> DatasetDict:
    """Join the text columns, type the label (ClassLabel or float32), and split what is missing."""
    label_columns = config.label_columns
    for split, df in frames.items():
        require_columns(df, text_columns, f"{source} ({split})", "data.text_columns")
        if label_columns:
            require_columns(df, label_columns, f"{source} ({split})", "data.label_columns")
        else:
            require_columns(df, [label_column], f"{source} ({split})", "data.label_column")
        if len(df) == 0:
            raise DataError(f"{source}: the {split} table has a header but no rows; add examples.")
    texts: dict[str, list[str]] = {}
    raw_labels: dict[str, pd.Series] = {}
    note(TEXT_COLUMNS_KEY, list(text_columns))  # saved with the model: predict reads the same columns
    for split, df in frames.items():
        joined = join_text_columns(df, text_columns)
        keep = joined.str.len() > 0
        if (~keep).any():
            logger.warning("%s (%s): dropped %d rows with empty text", source, split, int((~keep).sum()))
        texts[split] = joined[keep].tolist()
        if label_columns:
            raw_labels[split] = _flags_to_tags(df, label_columns, f"{source} ({split})")[keep]
        else:
            raw_labels[split] = df.loc[keep, label_column]
        if not texts[split]:
            raise DataError(f"{source}: every row of the {split} table has empty text in {text_columns}.")
    texts = _normalized(texts, config.normalize, source)

    targets = get_task(task).targets
    if targets.label_sets:  # a set of labels per row
        splits = _tags_dataset(texts, raw_labels, config, ", ".join(label_columns or [label_column]), source)
        return split_dataset(
            DatasetDict(splits), config.validation_size, config.test_size, config.seed, source
        )
    if not targets.named:  # a number per row
        labels = {s: numbers(v, f"{source} ({s})", label_column) for s, v in raw_labels.items()}
        features = Features({"text": Value("string"), "label": Value("float32")})
    else:
        if config.threshold is not None:
            nums = {s: numbers(v, f"{source} ({s})", label_column) for s, v in raw_labels.items()}
            names = list(config.threshold_labels)
            labels = {s: [names[int(x > config.threshold)] for x in v] for s, v in nums.items()}
        else:
            for s, v in raw_labels.items():
                missing = v.isna() | (v.astype(str).str.strip() == "")
                if missing.any():
                    row = int(missing.to_numpy().nonzero()[0][0]) + 1
                    raise DataError(
                        f"{source} ({s}): {int(missing.sum())} rows have no {label_column!r} (first: row {row}); label or drop them."
                    )
            labels = {s: [str(x).strip() for x in v] for s, v in raw_labels.items()}
        names = label_names([x for v in labels.values() for x in v])
        features = Features({"text": Value("string"), "label": ClassLabel(names=names)})
    splits = {s: Dataset.from_dict({"text": texts[s], "label": labels[s]}, features=features) for s in frames}
    return split_dataset(DatasetDict(splits), config.validation_size, config.test_size, config.seed, source)


@register_builder("text_table", dataset_name=named_by_path)
def build_text_table(config: DataConfig, task: str) -> DatasetDict:
    """Any table of text with a label or target column (`data.text_columns`, `data.label_column`)."""
    if not config.path:
        raise ConfigError(
            "`data.path` is required for the text_table builder: a CSV / JSONL / Parquet file or Hub dataset id."
        )
    frames = load_tables(config.path, config.delimiter, config.encoding)
    text_columns = config.text_columns or ["text"]
    return frames_to_dataset(frames, config, task, text_columns, config.label_column or "label", config.path)
