"""What `predict` reads, streamed: texts from a table in chunks, images from a folder or glob one by one.

Nothing here holds the whole input: tables are read `chunk_size` rows at a time (pandas' chunked readers,
pyarrow's Parquet batches), `.txt` files line by line, folders and globs are walked lazily, and images are
decoded a batch at a time in a `torch.utils.data.DataLoader` (`num_workers` processes). An image that does
not decode becomes a row with an `error` instead of stopping the run.
"""

from __future__ import annotations

import csv
import glob
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from fieldtune.datasets_builders.encodings import stream_decode_error
from fieldtune.errors import DataError


@dataclass
class TextSource:
    """Texts to predict on: the `--text`, a table's text column(s), a .txt file's lines, or one free text.
    A table's other columns (`extra_columns`: an `id`, a date) come along with each chunk."""

    path: Path | None  # None: `texts` is the whole input
    columns: tuple[str, ...] = ()  # a table's text columns, joined as training joined them
    texts: tuple[str, ...] = ()
    encoding: str = "utf-8-sig"  # of the file: given (--encoding) or detected, as training tables are
    extra_columns: tuple[str, ...] = ()

    def chunks(self, chunk_size: int) -> Iterator[tuple[list[str], pd.DataFrame]]:
        """(texts, the same rows' other columns) `chunk_size` rows at a time."""
        if self.path is None:
            yield list(self.texts), pd.DataFrame(index=range(len(self.texts)))
        elif self.path.suffix == ".txt":
            for texts in _txt_chunks(self.path, chunk_size, self.encoding):
                yield texts, pd.DataFrame(index=range(len(texts)))
        else:
            from fieldtune.datasets_builders.text_table import join_text_columns

            for frame in _table_chunks(self.path, None, chunk_size, self.encoding):
                frame = frame.reset_index(drop=True)
                yield join_text_columns(frame, list(self.columns)).tolist(), frame[list(self.extra_columns)]

    def count(self) -> int | None:
        """Rows, when cheap to know: lines of a .txt / .jsonl / .csv (a CSV with quoted line breaks is
        over-counted; the bar is corrected at the end), a Parquet file's metadata."""
        if self.path is None:
            return len(self.texts)
        if self.path.suffix == ".parquet":
            import pyarrow.parquet as pq

            return pq.ParquetFile(self.path).metadata.num_rows
        with open(self.path, "rb") as f:
            lines = sum(block.count(b"\n") for block in iter(lambda: f.read(1 << 20), b""))
        return max(0, lines - (self.path.suffix in (".csv", ".tsv")))


def text_source(
    source: str | None,
    text: str | None,
    columns: list[str] | None,
    encoding: str | None = None,
    trained: list[str] | None = None,
) -> TextSource:
    """`--text`, or `--input`: a file is read as a table (or .txt lines), anything else is one text.
    A table's text: `columns` (`--text-column`), else the `trained` ones (the model's), else `text`."""
    from fieldtune.datasets_builders.encodings import detect

    if text is not None:
        return TextSource(None, texts=(text,))
    path = Path(source or "").expanduser()
    if not path.is_file():
        return TextSource(None, texts=(source or "",))
    if path.suffix != ".parquet":
        encoding = encoding or detect(path)
    if path.suffix == ".txt":
        return TextSource(path, encoding=encoding or "utf-8-sig")
    encoding = encoding or "utf-8-sig"
    header = _header(path, encoding)
    chosen = _text_columns(path, header, columns, trained)
    extra = tuple(c for c in header if c not in chosen)
    return TextSource(path, tuple(chosen), encoding=encoding, extra_columns=extra)


def _text_columns(
    path: Path, header: list[str], given: list[str] | None, trained: list[str] | None
) -> list[str]:
    """The given columns; else the model's when the table has them all, else `text`, else the only column
    there is; checked against the header (a table with none of them: the model's are named missing)."""
    from fieldtune.datasets_builders.tables import require_columns

    columns = given
    if not columns:
        if trained and set(trained) <= set(header):
            columns = trained
        elif "text" in header:  # already-joined texts (a predictions.csv fed back)
            columns = ["text"]
        elif len(header) == 1:
            columns = header[:1]
        elif trained:
            missing = [c for c in trained if c not in header]
            raise DataError(
                f"{path} has no column {', '.join(missing)}: the model reads {', '.join(trained)}, the columns it "
                f"was trained on (the table has {', '.join(header[:10])}); rename the columns or pass --text-column."
            )
    if not columns:
        raise DataError(
            f"{path}: which column holds the text? Pass --text-column (columns: {', '.join(header[:10])})."
        )
    require_columns(pd.DataFrame(columns=header), list(columns), str(path), "--text-column")
    return list(columns)


def _header(path: Path, encoding: str) -> list[str]:
    """The column names, from the first row (CSV / TSV), the first record (JSONL) or the schema (Parquet)."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            return list(pq.ParquetFile(path).schema_arrow.names)
        except Exception as e:  # pyarrow's errors have no common base
            raise DataError(f"Cannot read {path} as Parquet ({type(e).__name__}); check the file.") from None
    first = next(_table_chunks(path, None, 1, encoding), None)
    if first is None:
        raise DataError(f"{path} has no rows to predict on; check the file.")
    return [str(c) for c in first.columns]


def _txt_chunks(path: Path, chunk_size: int, encoding: str) -> Iterator[list[str]]:
    chunk: list[str] = []
    with open(path, encoding=encoding) as f:
        try:
            for line in f:
                if line.strip():
                    chunk.append(line.strip())
                if len(chunk) >= chunk_size:
                    yield chunk
                    chunk = []
        except UnicodeError:
            raise stream_decode_error(path, encoding) from None
    if chunk:
        yield chunk


def _table_chunks(path: Path, column: str | None, chunk_size: int, encoding: str) -> Iterator[Any]:
    """A table `chunk_size` rows at a time: the `column` as a list of str, or (column None) DataFrames."""
    from fieldtune.datasets_builders.tables import TABLE_SUFFIXES

    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise DataError(f"{path}: unsupported table type {suffix!r}; use CSV, TSV, JSONL or Parquet.")
    done = 0
    try:
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            batches = pq.ParquetFile(path).iter_batches(batch_size=chunk_size, columns=column and [column])
            frames: Any = (b.to_pandas() for b in batches)
        elif suffix == ".jsonl":
            frames = pd.read_json(path, lines=True, chunksize=chunk_size, dtype=False, encoding=encoding)
        elif suffix == ".json":  # one JSON document has no rows to stream: read whole, handed out in chunks
            from fieldtune.datasets_builders.tables import read_table

            whole = read_table(path, encoding=encoding)
            frames = (whole.iloc[i : i + chunk_size] for i in range(0, len(whole), chunk_size))
        else:
            frames = pd.read_csv(
                path, sep=_delimiter(path, encoding), dtype=str, keep_default_na=False, na_values=[""],
                chunksize=chunk_size, encoding=encoding, usecols=column and [column],
            )  # fmt: skip
        for frame in frames:
            done += len(frame)
            if column is None:
                yield frame
            else:
                yield frame[column].where(frame[column].notna(), "").astype(str).tolist()
    except UnicodeError:
        raise stream_decode_error(path, encoding) from None
    except (ValueError, pd.errors.ParserError) as e:
        first = str(e).splitlines()[0][:120] if str(e) else type(e).__name__
        raise DataError(f"Cannot parse {path} after row {done}: {first}; check the file format.") from None


def _delimiter(path: Path, encoding: str) -> str:
    if path.suffix.lower() == ".tsv":
        return "\t"
    with open(path, encoding=encoding, errors="replace") as f:
        sample = f.read(20000)
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


@dataclass
class ImageSource:
    """One image, a folder (walked in sorted order) or a glob, listed lazily."""

    source: str

    def files(self) -> Iterator[Path]:
        from fieldtune.datasets_builders.image_folder import iter_image_files

        path = Path(self.source).expanduser()
        if path.is_file():
            return iter([path])  # named explicitly: taken as is
        # a glob's matches in sorted path order, as a folder's (the file system lists them in any order)
        roots = (
            [path] if path.is_dir() else sorted(glob.iglob(os.path.expanduser(self.source), recursive=True))
        )
        return iter_image_files(roots)

    def count(self) -> int:
        """A listing pass (no image is opened): cheap next to decoding, and it gives the bar an ETA."""
        total = sum(1 for _ in self.files())
        if not total:
            raise DataError(
                f"--input {self.source}: no images found (a file, a folder or a glob like 'photos/*.jpg')."
            )
        return total


class _DecodedImages(torch.utils.data.IterableDataset):
    """The files of `source` from row `skip` on, decoded and resized; worker `w` of `k` takes every k-th
    batch, so the DataLoader's round-robin over workers gives the batches back in input order."""

    def __init__(self, source: ImageSource, spec: Any, batch_size: int, skip: int) -> None:
        self.source, self.spec, self.batch_size, self.skip = source, spec, batch_size, skip

    def __iter__(self) -> Iterator[dict]:
        from fieldtune.inputs.images import image_to_pixels

        info = torch.utils.data.get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        for i, f in enumerate(self.source.files()):
            if i < self.skip or ((i - self.skip) // self.batch_size) % workers != worker:
                continue
            try:
                yield {"file": str(f), "pixel_values": image_to_pixels(f, self.spec), "error": ""}
            except Exception as e:  # PIL raises many types for a bad file: reported in the row instead
                yield {
                    "file": str(f),
                    "pixel_values": None,
                    "error": f"cannot decode image ({type(e).__name__})",
                }


def image_batches(
    loaded: Any, source: ImageSource, batch_size: int, num_workers: int, skip: int = 0
) -> Iterator[dict]:
    """Batches `{"file": [...], "error": [...], "pixel_values": tensor of the decoded ones or None}`."""
    from fieldtune.inputs.image_spec import resolve_image_spec
    from fieldtune.inputs.images import make_image_collator

    spec = resolve_image_spec(loaded.processor, None)
    collate_pixels = make_image_collator(spec, None, train=False)

    def collate(rows: list[dict]) -> dict:
        good = [{"pixel_values": r["pixel_values"]} for r in rows if r["pixel_values"] is not None]
        return {
            "file": [r["file"] for r in rows],
            "error": [r["error"] for r in rows],
            "pixel_values": collate_pixels(good)["pixel_values"] if good else None,
        }

    loader = torch.utils.data.DataLoader(
        _DecodedImages(source, spec, batch_size, skip), batch_size=batch_size, num_workers=num_workers,
        collate_fn=collate,
    )  # fmt: skip
    return iter(loader)


def text_key(text: str) -> str:
    """What identifies a text row in a resume checkpoint (a digest, not the text itself)."""
    import hashlib

    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]
