"""`fieldtune predict`: stream any input through a PyTorch or ONNX model into a resumable prediction file.

Memory stays flat in the input size: the input is read a chunk at a time (`predict_inputs`), each batch's
rows are written as soon as its logits are out and committed every `chunk_size` rows or
`COMMIT_EVERY_S` seconds (`predict_output`), and a progress bar shows rows or images per second with an
ETA. The rows are the task's own (`Targets.rows`: classes with top-k scores, tags with every label's
score, values), after a `text` or `file` column; image predictions end with an `error` column, filled
for a file that does not decode (its other columns empty) instead of stopping the run.

Example:
    >>> from fieldtune.inference.batch_predict import PredictRequest, predict
    >>> predict(PredictRequest("runs/demand", input="orders.csv", output=Path("preds.csv"), resume=True))
    20000
"""

from __future__ import annotations

import glob
import hashlib
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fieldtune import progress
from fieldtune.errors import DataError
from fieldtune.inference.load import (
    Loaded,
    batch_logits,
    check_text_coverage,
    load_for_inference,
    text_batches,
    thresholds_of,
)
from fieldtune.inference.predict_inputs import (
    ImageSource,
    TextSource,
    image_batches,
    path_like,
    text_key,
    text_source,
)
from fieldtune.inference.predict_output import check_output, open_predictions

OUTPUT_SUFFIXES = (".csv", ".jsonl")
COMMIT_EVERY_S = 10.0  # slow models (large images) still commit often enough for --resume to be worth it


@dataclass
class PredictRequest:
    """What `fieldtune predict` was asked (see `fieldtune predict --help` for each field)."""

    model: str
    input: str | None = None
    text: str | None = None
    output: Path | None = None
    top_k: int = 1
    text_column: str | None = None
    revision: str | None = None
    test_time: str | None = None
    batch_size: int | None = None  # default: 64 texts / 32 images
    num_workers: int = 0
    resume: bool = False
    overwrite: bool = False
    chunk_size: int = 1000  # rows read, and committed, at a time
    encoding: str | None = None  # of a text input file (None: detected)


def check_request(req: PredictRequest) -> None:
    """Before the model loads: --input names something that exists, --output can be written (or resumed)."""
    from fieldtune.rundir.layout import check_output_path

    for flag, value, low in (("--top-k", req.top_k, 1), ("--batch-size", req.batch_size, 1), ("--num-workers", req.num_workers, 0)):  # fmt: skip
        if value is not None and value < low:
            raise DataError(f"{flag} {value}: give {low} or more.")
    for flag, given in (("--text", req.text), ("--input", req.input)):  # an empty text would get a prediction
        if given is not None and not given.strip():
            raise DataError(f"{flag} is empty; give a text (--text) or a file, folder or glob (--input).")
    if req.encoding is not None:
        from fieldtune.config.value_checks import EXAMPLES, codec_problem

        problem = codec_problem(req.encoding)
        if problem:
            raise DataError(
                f"--encoding {req.encoding} {problem}; use e.g. {EXAMPLES}, or leave it out to detect the encoding."
            )
    source = req.input
    if source is not None and not source.strip():  # Path("") is the current folder: never what was meant
        raise DataError("--input is empty; give a file, folder or glob, or the text with --text.")
    if source is not None and not Path(source).expanduser().exists() and path_like(source):
        if glob.has_magic(source):  # `photos/*.jpg`; a `?` in plain words is no pattern
            if next(glob.iglob(os.path.expanduser(source), recursive=True), None) is None:
                raise DataError(f"--input {source}: the pattern matches no files; check it.")
        else:
            if Path(source).is_symlink():
                raise DataError(f"--input {source} is a broken or looping symlink; fix or remove the link.")
            raise DataError(
                f"--input {source} does not exist; check the path, or pass the words with --text to "
                "predict on them as text."
            )
    if req.output is not None:
        check_output_path(req.output, "--output", "file")
        if req.output.suffix.lower() not in OUTPUT_SUFFIXES:
            raise DataError(f"--output {req.output}: write predictions to a .csv or a .jsonl file.")
        _check_output_is_not_input(req.input, req.output)
    check_output(req.output, req.resume, req.overwrite)


def _check_output_is_not_input(source: str | None, output: Path) -> None:
    """The prediction file (or its .partial / checkpoint) is never the input file, through links too,
    whatever the flags: --overwrite would replace the table being read. (A folder or glob input cannot hold
    it: image models read only image files, and text models refuse folders and globs.)"""
    from fieldtune.inference.predict_output import checkpoint_of, partial_of

    path = Path(source).expanduser() if source else None
    if path is None or not path.is_file():
        return
    for written in (output, partial_of(output), checkpoint_of(output)):
        same = os.path.realpath(written) == os.path.realpath(path)  # the same path, through symlinks
        if same or (written.exists() and os.path.samefile(written, path)):  # samefile: hard links too
            raise DataError(
                f"--output {output} is the --input file {source} (or a link to it); predictions never "
                "replace their input: write them to another file."
            )


def _check_flags_do_something(req: PredictRequest, image: bool) -> None:
    """A flag that would be silently ignored for this model or input is an error naming what it needs."""
    txt = req.input is not None and Path(req.input).suffix.lower() == ".txt"
    ignored = (
        [("--text-column", req.text_column, "a table --input (CSV, TSV, JSONL, Parquet) on a text model"),
         ("--encoding", req.encoding, "a text file --input on a text model")]
        if image
        else [("--num-workers", req.num_workers or None, "an image model (it sets the image-decoding processes)"),
              ("--test-time", req.test_time if req.test_time not in (None, "none") else None, "an image model")]
    )  # fmt: skip
    if not image and req.text is not None:
        ignored += [
            ("--text-column", req.text_column, "a table --input"),
            ("--encoding", req.encoding, "a file --input"),
        ]
    elif not image and txt:
        ignored.append(("--text-column", req.text_column, "a table --input (a .txt has one text per line)"))
    for flag, value, needs in ignored:
        if value is not None:
            raise DataError(f"{flag} {value} does nothing here: it applies to {needs}; drop it.")


def run_text_column(ref: str) -> str | None:
    """The text column a run was trained on (when it had one), read before the model loads."""
    from fieldtune.rundir.reader import RunDirectory

    run = RunDirectory.at(ref)
    return run.text_column if run is not None else None


WEIGHT_SUFFIXES = (".safetensors", ".onnx", ".bin", ".skops")


def model_fingerprint(model_dir: Path | None) -> str | None:
    """A digest of config.json and of the weight files (names, sizes, first and last MiB): enough to tell
    another model from this one without reading gigabytes."""
    if model_dir is None:
        return None
    h = hashlib.sha256()
    from fieldtune.baselines.ensemble import ENSEMBLE_DIR

    half = model_dir / ENSEMBLE_DIR  # an ensemble's baseline half (another weight: another model)
    files = [*model_dir.iterdir(), *(half.iterdir() if half.is_dir() else [])]
    for f in sorted(files):
        if f.name in ("config.json", "fieldtune_baseline.json") or f.suffix.lower() in WEIGHT_SUFFIXES:
            size = f.stat().st_size
            h.update(f"{f.name}:{size}".encode())
            with open(f, "rb") as fh:
                h.update(fh.read(1 << 20))
                if size > 1 << 20:
                    fh.seek(max(1 << 20, size - (1 << 20)))
                    h.update(fh.read())
    return h.hexdigest()[:20]


def model_text_columns(loaded: Loaded) -> list[str] | None:
    """The table columns the model was trained on, saved in its config.json (None: a model from elsewhere)."""
    from fieldtune.datasets_builders.text_table import TEXT_COLUMNS_KEY

    return getattr(getattr(loaded.model, "config", None), TEXT_COLUMNS_KEY, None) or None


def output_columns(loaded: Loaded, top_k: int, extra: Sequence[str] = ()) -> list[str]:
    """The columns of every prediction row of this model (known before the first batch: the file's header):
    the input table's other columns (`extra`, renamed where a prediction column has their name), the text
    or file, then the task's own columns."""
    outputs = len(loaded.label_names) if loaded.label_names else 1
    sample = loaded.task.targets.rows(
        np.zeros((1, outputs)), loaded.label_names, top_k, thresholds_of(loaded)
    )
    inputs = loaded.task.inputs
    own = [inputs.predict_input, *sample[0], *inputs.predict_after]
    return list(kept_names(extra, own).values()) + own


def kept_names(extra: Sequence[str], own: Sequence[str]) -> dict[str, str]:
    """Input column -> its output name: as is, or `input_NAME` where a prediction column is called NAME."""
    return {c: (f"input_{c}" if c in own else c) for c in map(str, extra)}


def predict(req: PredictRequest, loaded: Loaded | None = None) -> int:
    """Predict every row of `req.input` (or `req.text`) into `req.output` (or stdout); the rows written.

    Raises `FieldtuneError` (one line) for every input, output or resume mistake, before any row is written.
    """
    check_request(req)
    run_column = run_text_column(req.model)  # a damaged config.yaml: before the model loads
    loaded = loaded or load_for_inference(req.model, req.revision, test_time=req.test_time)
    image = loaded.task.inputs.files  # image files read by path, not a table's texts
    if image and req.input is None:
        raise DataError(f"{req.model} is an image model; pass the images with --input, not --text.")
    _check_flags_do_something(req, image)
    # --text-column, else the columns the model was trained on (config.json: exports and bare folders too)
    trained = model_text_columns(loaded) or (run_column and [run_column])
    given = [req.text_column] if req.text_column else None
    source: TextSource | ImageSource = (
        ImageSource(req.input) if image else text_source(req.input, req.text, given, req.encoding, trained)
    )
    total = source.count()  # before the output is opened: an input with no images is refused here
    extra = getattr(source, "extra_columns", ())
    columns = output_columns(loaded, req.top_k, extra)
    identity = {
        "model": model_fingerprint(loaded.model_dir),
        "input": str(Path(req.input).expanduser().absolute())
        if req.input and Path(req.input).expanduser().exists()
        else req.input or req.text,
        "test_time": loaded.test_time,
    }
    writer = open_predictions(req.output, columns, identity, req.resume)
    done = writer.rows
    stream = (
        _image_rows(loaded, source, req, done, writer.last_key)
        if image
        else _text_rows(loaded, source, req, done, writer.last_key)
    )  # type: ignore[arg-type]
    last_commit = time.monotonic()
    try:
        with progress.bar(
            total=total, initial=done, desc="Predicting", unit=loaded.task.inputs.progress_unit
        ) as pbar:
            for frame, key in stream:
                writer.write(frame, key)
                pbar.update(len(frame))
                if writer.pending >= req.chunk_size or time.monotonic() - last_commit > COMMIT_EVERY_S:
                    writer.commit()
                    last_commit = time.monotonic()
            if pbar.total != pbar.n:  # a CSV with quoted line breaks has fewer rows than lines
                pbar.total = pbar.n
                pbar.refresh()
        writer.finish()
    except BaseException:
        writer.abandon()
        raise
    return writer.rows


def prediction_rows(loaded: Loaded, logits: np.ndarray, top_k: int) -> list[dict]:
    """Logits -> the task's predict rows (thresholds of a tag run applied): what `predict` writes and
    `fieldtune serve` answers, one decoder for both."""
    if not len(logits):
        return []
    return loaded.task.targets.rows(logits, loaded.label_names, top_k, thresholds_of(loaded))


def _rows_frame(first: dict, loaded: Loaded, logits: np.ndarray, top_k: int) -> pd.DataFrame:
    rows = prediction_rows(loaded, logits, top_k)
    return pd.concat([pd.DataFrame(first), pd.DataFrame(rows)], axis=1)


def _check_last(expected: str | None, found: str | None, done: int, what: str) -> None:
    if expected is not None and found != expected:
        raise DataError(
            f"--resume: the input's row {done} is not the {what} predicted there before; the input changed, "
            "pass --overwrite to predict it again."
        )


def _text_rows(
    loaded: Loaded, source: TextSource, req: PredictRequest, done: int, last: str | None
) -> Iterator[tuple[pd.DataFrame, str]]:
    batch_size = req.batch_size or 64
    names = kept_names(source.extra_columns, output_columns(loaded, req.top_k))
    seen, checked = 0, False
    for chunk, extras in source.chunks(req.chunk_size):
        if seen + len(chunk) <= done:  # committed before the interruption
            if seen + len(chunk) == done:
                _check_last(last, text_key(chunk[-1]), done, "text")
            seen += len(chunk)
            continue
        if seen < done:
            _check_last(last, text_key(chunk[done - seen - 1]), done, "text")
            chunk, extras = chunk[done - seen :], extras.iloc[done - seen :]
            seen = done
        if not checked:  # the first chunk predicted: a sample of the input, as training measures its texts
            check_text_coverage(loaded, chunk)
            checked = True
        for i, batch in enumerate(text_batches(loaded, chunk, batch_size=batch_size)):
            texts = chunk[i * batch_size : (i + 1) * batch_size]
            kept = extras.iloc[i * batch_size : (i + 1) * batch_size].rename(columns=names)
            first = {c: kept[c].tolist() for c in kept.columns} | {"text": texts}
            yield _rows_frame(first, loaded, batch_logits(loaded, batch), req.top_k), text_key(texts[-1])
        seen += len(chunk)
    if seen < done:
        raise DataError(
            f"--resume: the input has {seen} rows, fewer than the {done} predicted before; the input changed, "
            "pass --overwrite to predict it again."
        )


def _image_rows(
    loaded: Loaded, source: ImageSource, req: PredictRequest, done: int, last: str | None
) -> Iterator[tuple[pd.DataFrame, str]]:
    if done:
        previous = next((str(f) for i, f in enumerate(source.files()) if i == done - 1), None)
        _check_last(last, previous, done, "image")
    for batch in image_batches(loaded, source, req.batch_size or 32, req.num_workers, skip=done):
        ok = np.asarray([not e for e in batch["error"]], dtype=bool)
        logits = (
            batch_logits(loaded, {"pixel_values": batch["pixel_values"]}) if ok.any() else np.zeros((0, 1))
        )
        good = _rows_frame({}, loaded, logits, req.top_k)
        frame = pd.DataFrame({"file": batch["file"], "error": batch["error"]})
        frame = frame.join(good.set_axis(np.flatnonzero(ok)))
        yield frame, batch["file"][-1]
