"""Image labels from a metadata file: `metadata.csv` / `metadata.jsonl` beside the images.

Columns `file_name` and `label` (`data.image_column` / `data.label_column`), optionally `split`. For one
class per image the label is a name; for a label set (`image-multilabel`) it is a JSON list in JSONL or a
string of labels joined by `data.label_delimiter`, parsed by `labels.tag_lists` as text tables are; for a
number per image (`image-regression`) it is a finite number (`labels.as_number`).
"""

from __future__ import annotations

import math
from pathlib import Path

from fieldtune.config import DataConfig
from fieldtune.datasets_builders.labels import as_number, is_blank, tag_lists, tag_names
from fieldtune.datasets_builders.tables import read_table
from fieldtune.errors import DataError

SPLIT_NAMES = {
    "train": "train",
    "test": "test",
    "validation": "validation",
    "val": "validation",
    "valid": "validation",
}
METADATA_NAMES = ("metadata.csv", "metadata.jsonl")

Rows = dict[str, list[tuple[Path, object]]]  # split -> (file, raw label cell)


def rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def find_metadata(root: Path) -> Path | None:
    # `METADATA.CSV` too: no extension or name check minds the case
    found = [p for p in sorted(root.iterdir()) if p.name.lower() in METADATA_NAMES and p.is_file()]
    if len(found) > 1:
        raise DataError(f"{root} has {' and '.join(p.name for p in found)}; keep one of them.")
    return found[0] if found else None


def read_metadata(meta: Path, config: DataConfig, blank_labels: bool = False) -> Rows:
    """Rows of `file_name,label` (and an optional `split` column) -> {split: [(file, label cell)]}.

    A row without a label is an error unless `blank_labels` (a label set may be empty)."""
    file_col = config.image_column or "file_name"
    label_col = config.label_column or "label"
    # as text tables are read: encoding detected (or `data.encoding`), a broken JSON line named by its number
    table = read_table(meta, config.delimiter or ",", config.encoding)
    missing = [c for c in (file_col, label_col) if c not in table.columns]
    if missing:
        raise DataError(
            f"{meta} lacks column(s) {', '.join(missing)} (it has {', '.join(map(str, table.columns))}); "
            "rename them or set data.image_column / data.label_column."
        )
    labels = table[label_col].tolist()
    empty = [i + 2 for i, v in enumerate(labels) if is_blank(v)]  # +2: header line and 1-based rows
    if empty and not blank_labels:
        raise DataError(
            f"{meta}: {len(empty)} row(s) without a label (lines {', '.join(map(str, empty[:5]))}); fill them in."
        )
    files = [meta.parent / str(f) for f in table[file_col]]
    absent = [f for f in files if not f.is_file()]
    if absent:
        shown = ", ".join(rel(f, meta.parent) for f in absent[:5])
        raise DataError(
            f"{meta} lists {len(absent)} file(s) that do not exist ({shown}); fix the paths or drop the rows."
        )
    splits_col = (
        table["split"].map(lambda s: SPLIT_NAMES.get(str(s).lower(), "")) if "split" in table else None
    )
    out: Rows = {}
    for i, (path, label) in enumerate(zip(files, labels, strict=True)):
        split = splits_col.iloc[i] if splits_col is not None else "train"
        if not split:
            raise DataError(
                f"{meta}: row {i + 2} has split {table['split'].iloc[i]!r}; use train, validation or test."
            )
        out.setdefault(split, []).append((path, label))
    return out


def class_rows(rows: Rows, meta: Path) -> dict[str, dict[str, list[Path]]]:
    """One class name per file -> {split: {class: files}}."""
    out: dict[str, dict[str, list[Path]]] = {}
    for split, items in rows.items():
        for path, label in items:
            if isinstance(label, (list, tuple)):
                raise DataError(
                    f"{meta}: the label of {rel(path, meta.parent)} is a list {label!r}; several labels per "
                    "image need task: image-multilabel."
                )
            out.setdefault(split, {}).setdefault(str(label).strip(), []).append(path)
    return out


def tag_rows(
    rows: Rows, config: DataConfig, meta: Path
) -> tuple[dict[str, list[tuple[Path, list[int]]]], list[str]]:
    """A label set per file -> ({split: [(file, label ids)]}, sorted label names from train)."""
    column = config.label_column or "label"
    tags = {
        s: tag_lists([label for _, label in items], f"{meta} ({s})", column, config.label_delimiter)
        for s, items in rows.items()
    }
    if not rows.get("train"):
        raise DataError(f"{meta} lists no training images; add rows (or rows with split train).")
    names = tag_names(tags, str(meta))
    index = {n: i for i, n in enumerate(names)}
    out = {
        s: [(path, [index[t] for t in row]) for (path, _), row in zip(items, tags[s], strict=True)]
        for s, items in rows.items()
    }
    return out, names


def value_rows(rows: Rows, config: DataConfig, meta: Path) -> dict[str, list[tuple[Path, float]]]:
    """A number per file -> {split: [(file, value)]}; a cell that is not a finite number names its file."""
    column = config.label_column or "label"
    out: dict[str, list[tuple[Path, float]]] = {}
    for split, items in rows.items():
        for path, label in items:
            x = as_number(label)
            if x is None or not math.isfinite(x):
                raise DataError(
                    f"{meta}: the {column!r} of {rel(path, meta.parent)} is {label!r}, not a finite number; "
                    "fix it or drop that row (task image-regression reads one number per image)."
                )
            out.setdefault(split, []).append((path, x))
    return out
