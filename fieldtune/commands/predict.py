"""Predict with a run, model folder or Hub model: fieldtune predict REF --input FILE|FOLDER|GLOB|TEXT"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fieldtune.commands import add_test_time_argument
from fieldtune.errors import DataError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="Run directory, model folder or Hub id.")
    p.add_argument(
        "--input",
        required=True,
        help="Text, a table (CSV/JSONL), a .txt (one text per line), image, folder or glob.",
    )
    p.add_argument("--output", help="CSV or JSONL file to write (default: CSV on stdout).")
    p.add_argument("--top-k", type=int, default=1, help="Also give the next K-1 labels and scores.")
    p.add_argument(
        "--text-column", help="Column of the input table holding the text (default: the run's, or `text`)."
    )
    p.add_argument("--revision", help="Hub revision of the model.")
    add_test_time_argument(p)


def read_texts(source: str, column: str | None) -> tuple[list[str], list[str] | None]:
    """A table's text column, a .txt file's lines, or the argument itself as one text."""
    path = Path(source)
    if not path.is_file():
        return [source], None
    if path.suffix == ".txt":
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        return lines, None
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

    from fieldtune.inference.load import load_for_inference, predict_logits, text_batches, top_k_rows

    loaded = load_for_inference(args.model, args.revision, test_time=args.test_time)
    if loaded.task.modality == "text":
        column = args.text_column or _run_text_column(args.model)
        texts, _ = read_texts(args.input, column)
        logits = predict_logits(loaded, text_batches(loaded, texts))
        first = {"text": texts}
    else:
        from fieldtune.inputs.prepare_images import image_batches_from_files, image_files

        files = image_files(args.input)
        logits = predict_logits(loaded, image_batches_from_files(loaded, files))
        first = {"file": [str(f) for f in files]}
    if loaded.task.is_classification:
        rows = top_k_rows(logits, loaded.label_names, args.top_k)
        df = pd.concat([pd.DataFrame(first), pd.DataFrame(rows)], axis=1)
    else:
        df = pd.DataFrame({**first, "value": logits.reshape(-1).round(5)})
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
    cfg = Path(ref) / "config.yaml"
    if not cfg.is_file():
        return None
    import yaml

    cols = ((yaml.safe_load(cfg.read_text()) or {}).get("data") or {}).get("text_columns") or []
    return cols[0] if len(cols) == 1 else None
