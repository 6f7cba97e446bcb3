"""Unlabelled texts of the domain for the masked-LM phase (`pretraining.extra_texts`): a .txt file with one
text per line, or a column of a table read as the labelled data is (encoding detection, one-line errors),
normalised with the run's `data.normalize` mode, so the encoder reads them as it reads the train split."""

from __future__ import annotations

from pathlib import Path

from fieldtune.datasets_builders.encodings import decode
from fieldtune.datasets_builders.normalize import normalize_text
from fieldtune.datasets_builders.tables import TABLE_SUFFIXES, read_table, require_columns
from fieldtune.datasets_builders.text_table import join_text_columns
from fieldtune.errors import DataError

KEY = "pretraining.extra_texts"
LINE_SUFFIXES = (".txt", ".text")  # one text per line; a table suffix is read as a table


def read_extra_texts(
    path_str: str,
    column: str | None = None,
    text_columns: list[str] | None = None,
    encoding: str | None = None,
    normalize: str = "none",
) -> list[str]:
    """The non-blank texts of `path_str` (`normalize`: the run's resolved `data.normalize` mode).
    A table's texts come from `column`, else the recipe's `text_columns` when the table has them all,
    else its only column."""
    path = Path(path_str).expanduser()
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "does not exist"
        raise DataError(f"`{KEY}`: {path} {what}; point it at a text file (one text per line) or a table.")
    suffix = path.suffix.lower()
    if suffix not in LINE_SUFFIXES and suffix not in TABLE_SUFFIXES:
        raise DataError(
            f"`{KEY}`: {path} has the unsupported type {path.suffix!r}; use a .txt file (one text per line) or"
            " a CSV / TSV / JSONL / Parquet table."
        )
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"`{KEY}`: cannot read {path} ({e.strerror}); check its permissions.") from None
    if not raw.strip():
        texts = []
    elif suffix in LINE_SUFFIXES and column is None:
        texts = decode(raw, path, encoding).text.splitlines()
    else:
        frame = read_table(path, encoding=encoding)
        columns = [column] if column else text_columns or []
        if not columns or not all(c in frame.columns for c in columns):
            if column is None and len(frame.columns) != 1:
                shown = ", ".join(map(str, list(frame.columns)[:20]))
                raise DataError(
                    f"`{KEY}`: {path} has the columns {shown}; set `pretraining.extra_texts_column` to the one"
                    " holding the texts."
                )
            columns = columns if column else [str(frame.columns[0])]
        require_columns(frame, columns, str(path), "pretraining.extra_texts_column")
        texts = join_text_columns(frame, columns).tolist()
    texts = [normalize_text(t.strip(), normalize) for t in texts if t and t.strip()]
    if not texts:
        raise DataError(
            f"`{KEY}`: {path} holds no text; add one text per line (or per row), or remove the key."
        )
    return texts
