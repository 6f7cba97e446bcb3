"""Export a run's model: fieldtune export RUN --out DIR --merge (a plain transformers model, LoRA merged) or
--format onnx [--quantize int8] (ONNX, checked against PyTorch on the test split)

`--opset N` picks the ONNX opset; `--check-data` checks parity on other data than the run's test split.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from fieldtune.errors import FieldtuneError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="Run directory or model folder.")
    p.add_argument("--merge", action="store_true", help="Merge the LoRA adapter into the base weights.")
    p.add_argument(
        "--format", help="onnx: model.onnx + tokenizer / image processor, checked against PyTorch."
    )
    p.add_argument(
        "--quantize",
        help="int8 (with --format onnx): onnxruntime quantisation, dynamic for text models, static (QDQ, "
        "per-channel weights, calibrated activations) for image models.",
    )
    p.add_argument(
        "--calibration",
        help="Image models with --quantize int8: the images (folder, glob or file) static quantisation "
        "calibrates on, a few hundred taken (default: the run's training split).",
    )
    p.add_argument("--opset", type=int, help="ONNX opset to write (default: 18).")
    p.add_argument(
        "--check-data",
        help="With --format onnx: check parity (and int8 metrics) on all of this data (a table, image folder "
        "or Hub dataset labelled like the run's) instead of the run's test split.",
    )
    p.add_argument("--out", required=True, help="Folder to write (must not exist).")


def main(args: argparse.Namespace) -> int:
    from fieldtune.rundir.layout import check_output_path, model_dir_of
    from fieldtune.rundir.reader import RunDirectory

    _check_mode_flags(args)
    out = Path(args.out)
    check_output_path(out, "--out", "folder")
    if args.format is not None:
        return _onnx(args, out)
    from fieldtune.inference.export import merge_adapter

    if out.exists() and any(out.iterdir()):
        raise FieldtuneError(f"--out {out} already exists and is not empty; choose a new folder.")
    if not args.merge:
        raise FieldtuneError(
            "export needs --merge or --format onnx (a full run's model/ folder is already a plain "
            "transformers model)."
        )
    run = Path(args.run)
    if not run.exists():
        raise FieldtuneError(f"{run} does not exist; pass a run directory or a model folder.")
    run_dir = RunDirectory.at(run)
    if run_dir is not None:  # the same refusal as predict / evaluate / push: never merge a dead run's files
        run_dir.refuse_unfinished()
    merge_adapter(model_dir_of(run), out)
    print(f"Merged model written to {out}")
    return 0


def _check_mode_flags(args: argparse.Namespace) -> None:
    """A flag that does nothing in the chosen mode is an error naming the mode it belongs to (a silently
    ignored --quantize would leave a user believing the model is int8)."""
    onnx_only = {
        "--quantize": args.quantize,
        "--opset": args.opset,
        "--check-data": args.check_data,
        "--calibration": args.calibration,
    }
    if args.format is None:
        for flag, value in onnx_only.items():
            if value is not None:
                raise FieldtuneError(
                    f"{flag} {value} applies to an ONNX export only; add --format onnx (a --merge export "
                    "writes a plain transformers model, which it would not change)."
                )
    elif args.merge:
        raise FieldtuneError(
            "--merge does nothing with --format onnx (the ONNX export folds a LoRA adapter into the graph "
            "itself); drop --merge, or run `fieldtune export RUN --merge --out DIR` separately."
        )


def _onnx(args: argparse.Namespace, out: Path) -> int:
    from fieldtune.inference.onnx_export import check_export_args, export_onnx

    run = Path(args.run)
    check_export_args(run, out, args.format, args.quantize, args.opset, args.check_data, args.calibration)
    report = export_onnx(run, out, args.quantize, args.opset, args.check_data, args.calibration)
    metric = report["primary_metric"]
    print(f"ONNX model written to {out} (max |logit difference| {report['parity']['max_abs_diff']:.1e})")
    for kind, metrics in report["metrics"].items():
        value = metrics.get(metric)
        print(f"  {report['split']} {metric} {kind}: {f'{value:.4f}' if isinstance(value, float) else value}")
    quantization = report.get("quantization")
    if quantization:
        change = quantization["change"]
        print(
            f"  int8 {quantization['kind']} quantisation: {metric} change "
            f"{'n/a' if change is None else f'{change:+.4f}'} on {report['parity']['examples']} examples"
        )
    return 0
