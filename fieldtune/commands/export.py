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
    p.add_argument("--quantize", help="int8: onnxruntime dynamic quantisation (with --format onnx).")
    p.add_argument("--opset", type=int, help="ONNX opset to write (default: 18).")
    p.add_argument(
        "--check-data",
        help="With --format onnx: check parity (and int8 metrics) on all of this data (a table, image folder "
        "or Hub dataset labelled like the run's) instead of the run's test split.",
    )
    p.add_argument("--out", required=True, help="Folder to write (must not exist).")


def main(args: argparse.Namespace) -> int:
    from fieldtune.rundir.layout import check_output_path, model_dir_of

    out = Path(args.out)
    check_output_path(out, "--out", "folder")
    if args.format is not None:
        return _onnx(args, out)
    if args.check_data is not None:
        raise FieldtuneError("--check-data checks an ONNX export; pass it with --format onnx.")
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
    merge_adapter(model_dir_of(run), out)
    print(f"Merged model written to {out}")
    return 0


def _onnx(args: argparse.Namespace, out: Path) -> int:
    from fieldtune.inference.onnx_export import check_export_args, export_onnx

    check_export_args(Path(args.run), out, args.format, args.quantize, args.opset, args.check_data)
    report = export_onnx(Path(args.run), out, args.quantize, args.opset, args.check_data)
    metric = report["primary_metric"]
    print(f"ONNX model written to {out} (max |logit difference| {report['parity']['max_abs_diff']:.1e})")
    for kind, metrics in report["metrics"].items():
        value = metrics.get(metric)
        print(f"  {report['split']} {metric} {kind}: {f'{value:.4f}' if isinstance(value, float) else value}")
    return 0
