"""Reading user tables (CSV / TSV / JSONL / Parquet / Hub dataset ids) with one-line errors."""

from __future__ import annotations

import csv
import errno
import io
import json
import re
from pathlib import Path
from typing import Any

import pandas as pd

from fieldtune.datasets_builders.data_report import note
from fieldtune.datasets_builders.encodings import decode
from fieldtune.errors import DataError

TABLE_SUFFIXES = {".csv", ".tsv", ".txt", ".jsonl", ".json", ".parquet"}
SPLIT_ALIASES = {
    "train": "train",
    "validation": "validation",
    "valid": "validation",
    "val": "validation",
    "dev": "validation",
    "test": "test",
}


def _sniff_delimiter(path: Path, text: str) -> str:
    if path.suffix.lower() == ".tsv":
        return "\t"
    try:
        return csv.Sniffer().sniff(text[:20000], delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def read_table(path: Path, delimiter: str | None = None, encoding: str | None = None) -> pd.DataFrame:
    """Read one table file; every cell as a string (codes keep their leading zeros). Text files are
    decoded with `encoding`, else with the detected one (`encodings.decode`), which the data report notes."""
    if not path.exists():
        if path.is_symlink():  # exists() is False for a dangling link and for a loop of links
            try:
                path.resolve(strict=True)
            except RuntimeError:  # Python 3.11 reports a loop this way, later ones as OSError ELOOP
                raise DataError(f"Data file {path} is a symlink loop; fix or remove the link.") from None
            except OSError as e:
                if e.errno == errno.ELOOP:
                    raise DataError(f"Data file {path} is a symlink loop; fix or remove the link.") from None
            raise DataError(f"Data file {path} is a symlink to a missing file; fix or remove the link.")
        raise DataError(f"Data file {path} does not exist; check `data.path`.")
    if path.is_dir():
        raise DataError(
            f"{path} is a folder; point `data.path` at a table file or a folder with train/test files."
        )
    suffix = path.suffix.lower()  # `ORDERS.CSV` is a CSV file: every extension check ignores case
    if suffix not in TABLE_SUFFIXES:
        raise DataError(f"{path}: unsupported table type {path.suffix!r}; use CSV, TSV, JSONL or Parquet.")
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"Cannot read {path} ({e.strerror}); check its permissions.") from None
    if not raw.strip():
        raise DataError(f"Data file {path} is empty; it needs a header row and at least a few examples.")
    if suffix == ".parquet":
        try:
            return pd.read_parquet(io.BytesIO(raw)).astype(str).where(lambda d: d != "None", None)
        except Exception as e:  # pyarrow's errors have no common base
            raise DataError(
                f"Cannot read {path} as Parquet ({type(e).__name__}); check the file is not corrupt."
            ) from None
    decoded = decode(raw, path, encoding)
    note(str(path), decoded.encoding + ("" if decoded.detected else " (given)"), within="encodings")
    text = decoded.text
    try:
        if suffix in (".jsonl", ".json"):
            if suffix == ".jsonl":
                _check_json_lines(path, text)
            return pd.read_json(io.StringIO(text), lines=suffix == ".jsonl", dtype=False).astype(object)
        sep = delimiter or _sniff_delimiter(path, text)
        _check_header(path, text, sep)
        return pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, na_values=[""])
    except DataError:  # a ValueError too: the line checks' own one-line messages, as they are
        raise
    except (ValueError, pd.errors.ParserError) as e:
        raise DataError(
            f"Cannot parse {path}: {parse_problem(e)}; check the file format and `data.delimiter`."
        ) from None


_FIELDS = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


def parse_problem(error: Exception) -> str:
    """pandas' parser error in the terms of the file (its line, its fields), not of the C tokenizer."""
    text = str(error)
    found = _FIELDS.search(text)
    if found:
        expected, line, saw = found.groups()
        return f"line {line} has {saw} fields where the header has {expected} (quote a field holding the delimiter)"
    return text.splitlines()[0][:120] if text else type(error).__name__


def _duplicates(names: list[str]) -> list[str]:
    seen: set[str] = set()
    return [n for n in names if n in seen or seen.add(n)]


def _check_header(path: Path, text: str, sep: str) -> None:
    """pandas renames a repeated column to `name.1` silently: which one holds the labels?"""
    header = next(csv.reader(io.StringIO(text), delimiter=sep), [])
    dups = _duplicates([h.strip() for h in header])
    if dups:
        raise DataError(f"{path}: the header repeats column {dups[0]!r}; give every column its own name.")


def _check_json_lines(path: Path, text: str) -> None:
    """pandas names no line when one is broken; a repeated key in an object would be dropped silently."""

    def no_repeats(pairs: list[tuple[str, object]]) -> dict:
        dups = _duplicates([k for k, _ in pairs])
        if dups:
            raise ValueError(f"the key {dups[0]!r} appears twice")
        return dict(pairs)

    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            json.loads(line, object_pairs_hook=no_repeats)
        except json.JSONDecodeError as e:
            raise DataError(
                f"{path}, line {number}: not valid JSON ({e.msg}); fix the line or remove it."
            ) from None
        except ValueError as e:
            raise DataError(f"{path}, line {number}: {e}; give every field its own name.") from None


def find_split_files(folder: Path) -> dict[str, Path]:
    """`folder/train.csv`, `folder/validation.jsonl`, ... -> {split: path}."""
    found: dict[str, Path] = {}
    for f in sorted(folder.iterdir()):
        split = SPLIT_ALIASES.get(f.stem.lower())
        if split and f.suffix.lower() in TABLE_SUFFIXES and split not in found:
            found[split] = f
    if "train" not in found:
        raise DataError(
            f"Folder {folder} has no train.csv / train.jsonl / train.parquet; add one or point at a file."
        )
    return found


def load_tables(path_str: str, delimiter: str | None, encoding: str | None = None) -> dict[str, pd.DataFrame]:
    """A file, a folder of split files, or a Hub dataset id -> {split: DataFrame}."""
    path = Path(path_str).expanduser()
    if path.is_dir():
        return {split: read_table(f, delimiter, encoding) for split, f in find_split_files(path).items()}
    if path.exists() or path.suffix.lower() in TABLE_SUFFIXES or path_str.startswith((".", "/", "~")):
        return {"train": read_table(path, delimiter, encoding)}
    return _load_hub_dataset(path_str)


def load_hub_dataset(dataset_id: str) -> Any:
    """`datasets.load_dataset(dataset_id)` with its split names normalised (valid / dev -> validation)."""
    import datasets

    try:
        dd = datasets.load_dataset(dataset_id)
    except Exception as e:  # datasets raises many types for a missing / offline dataset
        raise DataError(
            f"`data.path` {dataset_id!r} is neither a local path nor a loadable Hub dataset "
            f"({type(e).__name__}); check the path, or the dataset id and your network."
        ) from None
    return datasets.DatasetDict({SPLIT_ALIASES.get(k, k): v for k, v in dd.items()})


def _load_hub_dataset(dataset_id: str) -> dict[str, pd.DataFrame]:
    return {k: v.to_pandas() for k, v in load_hub_dataset(dataset_id).items()}


def require_columns(df: pd.DataFrame, columns: list[str], source: str, key: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if not missing:
        return
    cols = [str(c) for c in df.columns]
    if len(cols) == 1 and any(d in cols[0] for d in ";\t|,"):
        hint = "the file has a single column: is the delimiter right? Set `data.delimiter`"
    elif key.startswith(("data.", "--")):  # a setting the user can change
        hint = f"set `{key}` to one of them or rename the column"
    else:
        hint = "rename the column"
    shown = ", ".join(cols[:20]) + (", ..." if len(cols) > 20 else "")
    raise DataError(
        f"{source}: column {missing[0]!r} (from `{key}`) is missing; the columns are {shown}; {hint}."
    )
