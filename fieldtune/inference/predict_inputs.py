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
        elif self.path.suffix.lower() == ".txt":
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
        if self.path.suffix.lower() == ".parquet":
            import pyarrow.parquet as pq

            return pq.ParquetFile(self.path).metadata.num_rows
        with open(self.path, "rb") as f:
            lines = sum(block.count(b"\n") for block in iter(lambda: f.read(1 << 20), b""))
        return max(0, lines - (self.path.suffix.lower() in (".csv", ".tsv")))


def path_like(source: str) -> bool:
    """A value a user meant as a path: it has a folder separator or a file extension fieldtune reads."""
    from fieldtune.datasets_builders.image_folder import IMAGE_EXTENSIONS
    from fieldtune.datasets_builders.tables import TABLE_SUFFIXES

    seps = {"/", os.sep} | ({os.altsep} if os.altsep else set())
    suffix = Path(source).suffix.lower()
    return any(s in source for s in seps) or suffix in TABLE_SUFFIXES | IMAGE_EXTENSIONS


_TEXT_INPUTS = (
    "a text model reads one table (CSV, TSV, JSONL, Parquet) or one .txt file (a text per line), or one text "
    "given with --text"
)


def text_source(
    source: str | None,
    text: str | None,
    columns: list[str] | None,
    encoding: str | None = None,
    trained: list[str] | None = None,
) -> TextSource:
    """`--text`, or `--input`: a file is read as a table (or .txt lines); words that are no path and name
    nothing on disk are one text. A folder, a glob that matches files, or anything else on disk that is not
    a file is refused: its name must never be predicted as if it were a text. A table's text: `columns`
    (`--text-column`), else the `trained` ones (the model's), else `text`."""
    from fieldtune.datasets_builders.encodings import detect

    if text is not None:
        return TextSource(None, texts=(text,))
    if not (source or "").strip():
        raise DataError(f"--input is empty; {_TEXT_INPUTS}.")
    path = Path(source).expanduser()
    if path.is_dir():
        raise DataError(f"--input {source} is a folder; {_TEXT_INPUTS}: give one file (or predict per file).")
    if not path.is_file():
        if path.exists() or path.is_symlink():  # a device, a pipe, a broken link
            raise DataError(f"--input {source} is not a regular file; {_TEXT_INPUTS}.")
        if glob.has_magic(source) and next(glob.iglob(os.path.expanduser(source), recursive=True), None):
            raise DataError(
                f"--input {source} is a pattern matching files; {_TEXT_INPUTS}: give one file (or predict "
                "per file)."
            )
        if path_like(source):  # check_request stops these first; a caller that skipped it is stopped here
            raise DataError(
                f"--input {source} does not exist; check the path, or pass the words with --text."
            )
        return TextSource(None, texts=(source,))
    from fieldtune.datasets_builders.tables import TABLE_SUFFIXES

    suffix = path.suffix.lower()  # NOTES.TXT is a .txt file
    if suffix not in TABLE_SUFFIXES:  # before encoding detection, which would call a photo bad text
        raise DataError(f"--input {source}: unsupported file type {suffix or '(none)'!r}; {_TEXT_INPUTS}.")
    if suffix != ".parquet":
        encoding = encoding or detect(path)
    if suffix == ".txt":
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
    if path.suffix.lower() == ".parquet":
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
    import pandas as pd

    from fieldtune.datasets_builders.tables import TABLE_SUFFIXES, parse_problem

    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise DataError(f"{path}: unsupported file type {suffix!r}; {_TEXT_INPUTS}.")
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
        else:  # every column: with `usecols` pandas cuts a row that has a field too many instead of refusing it
            frames = pd.read_csv(
                path, sep=_delimiter(path, encoding), dtype=str, keep_default_na=False, na_values=[""],
                chunksize=chunk_size, encoding=encoding,
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
        raise DataError(
            f"Cannot parse {path} after row {done}: {parse_problem(e)}; check the file format."
        ) from None


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
        # a glob's matches in sorted path order, as a folder is walked (the file system's order is arbitrary,
        # and `--resume` needs the same order every time); names only, no image is opened here
        roots = (
            [path] if path.is_dir() else sorted(glob.iglob(os.path.expanduser(self.source), recursive=True))
        )
        return iter_image_files(roots)

    def count(self) -> int:
        """A listing pass (no image is opened): cheap next to decoding, and it gives the bar an ETA. A file
        named alone is decoded here: in a folder a bad file is a row with an `error`, but the only row of
        a prediction cannot be one (exit 0 with no prediction)."""
        path = Path(self.source).expanduser()
        if path.is_file():
            _check_image(path)
        total = sum(1 for _ in self.files())
        if not total:
            raise DataError(
                f"--input {self.source}: no images found (a file, a folder or a glob like 'photos/*.jpg')."
            )
        return total


def _check_image(path: Path) -> None:
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.load()
    except Exception as e:  # PIL raises many types for a file that is not an image or is damaged
        raise DataError(
            f"--input {path} is not an image that can be decoded ({type(e).__name__}); an image model "
            "takes an image file, a folder of images or a glob like 'photos/*.jpg'."
        ) from None


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
