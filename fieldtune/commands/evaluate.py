"""Evaluate a run, model folder or Hub model on a dataset split: fieldtune evaluate REF --data PATH"""

from __future__ import annotations

import argparse
from pathlib import Path

from fieldtune.commands import add_test_time_argument
from fieldtune.commands.report import print_metrics
from fieldtune.errors import FieldtuneError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="Run directory, model folder or Hub id.")
    p.add_argument("--data", help="Data file / folder / Hub dataset id (default: the run's own data).")
    p.add_argument("--split", default="test", help="train, validation, test or all (default: test).")
    p.add_argument("--revision", help="Hub revision of the model.")
    p.add_argument(
        "--builder", help="Dataset builder for --data (default: the run's, else text_table / image_folder)."
    )
    p.add_argument("--text-column", action="append", help="Text column(s) of --data (default: the run's).")
    p.add_argument("--label-column", help="Label column of --data (default: the run's).")
    p.add_argument("--output", help="Write the results as JSON (shaped like eval_results.json).")
    p.add_argument("--overwrite", action="store_true", help="Replace an existing --output file.")
    add_test_time_argument(p)


# recipe key -> (this command's flag that set it, its argparse attribute): messages name what the user typed
FLAGS = {
    "path": ("--data", "data"),
    "builder": ("--builder", "builder"),
    "text_columns": ("--text-column", "text_column"),
    "label_column": ("--label-column", "label_column"),
}


def _as_flags(message: str, args: argparse.Namespace) -> str:
    for key, (flag, attr) in FLAGS.items():
        if getattr(args, attr, None) is not None:
            message = message.replace(f"`data.{key}`", f"`{flag}`")
    return message


def main(args: argparse.Namespace) -> int:
    from fieldtune.inference.evaluate import evaluate_model
    from fieldtune.rundir.layout import check_new_file, check_output_path, write_json

    if args.output:  # before the model loads
        check_output_path(Path(args.output), "--output", "file")
        check_new_file(Path(args.output), "--output", args.overwrite, inputs=[args.data])
    elif args.overwrite:
        raise FieldtuneError("--overwrite replaces an existing --output file; give --output FILE.json.")
    overrides = {}
    if args.builder:
        overrides["builder"] = args.builder
    if args.text_column:
        overrides["text_columns"] = args.text_column
    if args.label_column:
        overrides["label_column"] = args.label_column
    try:
        results = evaluate_model(
            args.model,
            args.data,
            args.split,
            args.revision,
            data_overrides=overrides,
            test_time=args.test_time,
        )
    except FieldtuneError as e:
        raise type(e)(_as_flags(str(e), args)) from None
    print_metrics(results, title=f"{args.model} on {results['dataset']} ({args.split})")
    print(f"Scored {results['num_test_examples']} examples.")
    if args.output:
        write_json(Path(args.output), results)
    return 0
