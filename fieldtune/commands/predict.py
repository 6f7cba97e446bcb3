"""Predict with a run, model folder, ONNX export or Hub model: fieldtune predict REF --input FILE|FOLDER|GLOB | --text TEXT"""

from __future__ import annotations

import argparse
from pathlib import Path

from fieldtune.commands import add_test_time_argument


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="Run directory, model folder, ONNX export folder or Hub id.")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--input",
        help="A table (CSV/JSONL/Parquet), a .txt (one text per line), image, folder or glob; or a text that "
        "cannot be a path. Read in chunks: any size fits in memory.",
    )
    source.add_argument("--text", help="One text to predict on, taken as is (never as a path).")
    p.add_argument(
        "--output",
        help="CSV or JSONL file to write (default: CSV on stdout). Written as OUTPUT.partial, committed every "
        "chunk, renamed when complete.",
    )
    p.add_argument("--top-k", type=int, default=1, help="Also give the next K-1 labels and scores.")
    p.add_argument(
        "--text-column",
        help="Column of the input table holding the text (default: the model's own, or `text`).",
    )
    p.add_argument("--revision", help="Hub revision of the model.")
    p.add_argument("--batch-size", type=int, help="Examples per model call (default: 64 texts, 32 images).")
    p.add_argument(
        "--num-workers",
        type=int,
        default=0,
        help="Processes decoding images beside the model (default 0: in the main process).",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="Continue the interrupted prediction OUTPUT.partial after its last committed row.",
    )
    p.add_argument("--overwrite", action="store_true", help="Replace an existing --output (when complete).")
    p.add_argument(
        "--encoding",
        help="Encoding of the --input text file (default: detected among UTF-8, UTF-16, GB18030 / GBK, Big5).",
    )
    add_test_time_argument(p)


def main(args: argparse.Namespace) -> int:
    from fieldtune.inference.batch_predict import PredictRequest, predict

    request = PredictRequest(
        model=args.model,
        input=args.input,
        text=args.text,
        output=Path(args.output) if args.output else None,
        top_k=args.top_k,
        text_column=args.text_column,
        revision=args.revision,
        test_time=args.test_time,
        batch_size=args.batch_size,
        num_workers=args.num_workers,
        resume=args.resume,
        overwrite=args.overwrite,
        encoding=args.encoding,
    )
    rows = predict(request)
    if request.output is not None:
        print(f"Wrote {rows} predictions to {request.output}")
    return 0
