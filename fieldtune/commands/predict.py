"""Predict with a run, model folder or Hub model: fieldtune predict REF --input FILE|FOLDER|GLOB | --text TEXT"""

from __future__ import annotations

import argparse
import glob
import os
import sys
from pathlib import Path

from fieldtune.commands import add_test_time_argument
from fieldtune.errors import DataError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="Run directory, model folder or Hub id.")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--input",
        help="A table (CSV/JSONL), a .txt (one text per line), image, folder or glob; or a text that "
        "cannot be a path.",
    )
    source.add_argument("--text", help="One text to predict on, taken as is (never as a path).")
    p.add_argument("--output", help="CSV or JSONL file to write (default: CSV on stdout).")
    p.add_argument("--top-k", type=int, default=1, help="Also give the next K-1 labels and scores.")
    p.add_argument(
        "--text-column", help="Column of the input table holding the text (default: the run's, or `text`)."
    )
    p.add_argument("--revision", help="Hub revision of the model.")
    add_test_time_argument(p)


OUTPUT_SUFFIXES = (".csv", ".jsonl")


def _path_like(source: str) -> bool:
    """A value a user meant as a path: it has a folder separator or a file extension fieldtune reads."""
    from fieldtune.datasets_builders.image_folder import IMAGE_EXTENSIONS
    from fieldtune.datasets_builders.tables import TABLE_SUFFIXES

    seps = {"/", os.sep} | ({os.altsep} if os.altsep else set())
    suffix = Path(source).suffix.lower()
    return any(s in source for s in seps) or suffix in TABLE_SUFFIXES | IMAGE_EXTENSIONS


def check_arguments(args: argparse.Namespace) -> None:
    """Before the model loads: --input names something that exists, --output can be written."""
    from fieldtune.rundir.layout import check_output_path

    if args.top_k < 1:
        raise DataError(f"--top-k {args.top_k}: give 1 or more.")
    source = args.input
    if source is not None and not Path(source).expanduser().exists() and _path_like(source):
        if glob.has_magic(source):  # `photos/*.jpg`; a `?` in plain words is no pattern
            if not glob.glob(os.path.expanduser(source), recursive=True):
                raise DataError(f"--input {source}: the pattern matches no files; check it.")
        else:
            if Path(source).is_symlink():
                raise DataError(f"--input {source} is a broken or looping symlink; fix or remove the link.")
            raise DataError(
                f"--input {source} does not exist; check the path, or pass the words with --text to "
                "predict on them as text."
            )
    if args.output:
        out = Path(args.output)
        check_output_path(out, "--output", "file")
        if out.suffix.lower() not in OUTPUT_SUFFIXES:
            raise DataError(f"--output {out}: write predictions to a .csv or a .jsonl file.")


def read_texts(source: str, column: str | None) -> tuple[list[str], list[str] | None]:
    """A table's text column, a .txt file's lines, or the argument itself as one text."""
    path = Path(source).expanduser()
    if not path.is_file():
        return [source], None
    if path.suffix == ".txt":
        try:
            text = path.read_bytes().decode("utf-8-sig")
        except UnicodeDecodeError as e:  # as the training side reads its tables
            raise DataError(
                f"{path} is not UTF-8 text (invalid byte at offset {e.start}); re-save it as UTF-8."
            ) from None
        return [line.strip() for line in text.splitlines() if line.strip()], None
    from fieldtune.datasets_builders.tables import read_table, require_columns

    df = read_table(path)
    if column is None:  # the run's column, else `text`, else the only column there is
        column = "text" if "text" in df.columns else (str(df.columns[0]) if len(df.columns) == 1 else None)
    if column is None:
        raise DataError(
            f"{path}: which column holds the text? Pass --text-column (columns: {', '.join(map(str, df.columns[:10]))})."
        )
    require_columns(df, [column], str(path), "--text-column")
    return df[column].fillna("").astype(str).tolist(), None


def main(args: argparse.Namespace) -> int:
    import pandas as pd  # here, not at the top: every `fieldtune` command imports this module

    from fieldtune.inference.load import load_for_inference, predict_logits, text_batches, thresholds_of
    from fieldtune.scoring import targets_of

    check_arguments(args)
    column = args.text_column or _run_text_column(args.model)  # a damaged config.yaml: before the model
    loaded = load_for_inference(args.model, args.revision, test_time=args.test_time)
    if loaded.task.modality == "text":
        texts = [args.text] if args.text is not None else read_texts(args.input, column)[0]
        logits = predict_logits(loaded, text_batches(loaded, texts))
        first = {"text": texts}
    else:
        from fieldtune.inputs.prepare_images import image_batches_from_files, image_files

        if args.input is None:
            raise DataError(f"{args.model} is an image model; pass the images with --input, not --text.")
        files = image_files(args.input)
        logits = predict_logits(loaded, image_batches_from_files(loaded, files))
        first = {"file": [str(f) for f in files]}
    rows = targets_of(loaded.task).rows(logits, loaded.label_names, args.top_k, thresholds_of(loaded))
    df = pd.concat([pd.DataFrame(first), pd.DataFrame(rows)], axis=1)
    if args.output:
        from fieldtune.rundir.layout import atomic_write_text

        out = Path(args.output)
        text = df.to_json(orient="records", lines=True) if out.suffix == ".jsonl" else df.to_csv(index=False)
        atomic_write_text(out, text)
        print(f"Wrote {len(df)} predictions to {out}")
    else:
        df.to_csv(sys.stdout, index=False)
    return 0


def _run_text_column(ref: str) -> str | None:
    from fieldtune.rundir.reader import RunDirectory

    run = RunDirectory.at(ref)
    return run.text_column if run is not None else None
