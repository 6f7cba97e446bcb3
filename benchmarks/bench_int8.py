"""int8 onnxruntime for image models: static QDQ (what `export --quantize int8` now does for images) vs
fp32 onnxruntime (and, with `--dynamic`, the old dynamic int8), on a held-out split.

One invocation: a MobileNetV2 (or any image backbone) is fitted on lithology with a short linear probe
(`--epochs`, the head on frozen features: a real model, cheaply) unless `--run` gives a finished run; it is
exported with `fieldtune export --format onnx` (fp32, checked against PyTorch) and that graph quantised
as `--quantize int8` does (static for images: calibrated on 300 training images); with `--dynamic` the fp32 graph is also quantised dynamically (the pre-issue-32
recipe). Each graph's accuracy is computed on the run's test split (held out: never trained or chosen
on), then its images/s timed over `--repeats` passes of that split (or its first `--limit` images) in
batches of 32, passes interleaved, all with the same onnxruntime threads.
Target of issue 32: static int8 >= 2x fp32 images/s at <= 1 point of accuracy lost.

    nice -n 10 python benchmarks/bench_int8.py --model ../shared/models/mobilenet-v2-1.0-224
    nice -n 10 python benchmarks/bench_int8.py --model ../shared/models/vit-tiny-patch16-224
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import ROOT, emit_json, machine_info, print_ratio, print_table, quiet_libraries  # noqa: E402

# ../shared beside the checkout (a git worktree sits one level deeper)
SHARED = next(
    (p / "shared" for p in (ROOT.parent, ROOT.parent.parent) if (p / "shared").is_dir()),
    ROOT.parent / "shared",
)


def _probe_run(model: str, data: str, epochs: int, out: Path) -> Path:
    from fieldtune.config import config_from_dict
    from fieldtune.training.run import run

    config = config_from_dict({
        "task": "image-classification", "name": "lithology_probe", "model": {"name_or_path": model},
        "data": {"builder": "image_folder", "path": data, "test_size": 0.2, "validation_size": 0.1, "seed": 0},
        "method": {"name": "probe"},
        "training": {"num_train_epochs": epochs, "learning_rate": 3e-3, "per_device_train_batch_size": 32,
                     "seed": 0, "class_weights": "balanced"},
    })  # fmt: skip
    return run(config, output_dir=out).run_dir


def _timed(models: dict[str, Any], batches: list[dict], timed: list[dict], repeats: int) -> tuple[dict, dict]:
    """images/s of each model over `timed`, passes interleaved (model A, B, C, A, B, C, ...) so that the
    load of a shared machine falls on all of them alike; and each model's logits over all `batches` (which
    also warms it up)."""
    from fieldtune.inference.load import predict_logits

    logits = {name: predict_logits(m, batches) for name, m in models.items()}  # warm-up + logits
    seconds = dict.fromkeys(models, 0.0)
    for _ in range(repeats):
        for name, m in models.items():
            start = time.perf_counter()
            predict_logits(m, timed)
            seconds[name] += time.perf_counter() - start
    n = sum(len(next(iter(b.values()))) for b in timed)
    return {name: repeats * n / s for name, s in seconds.items()}, logits


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=str(SHARED / "models" / "mobilenet-v2-1.0-224"))
    p.add_argument("--data", default=str(SHARED / "data" / "lithology" / "train"))
    p.add_argument("--run", help="A finished image run to use instead of fitting a probe.")
    p.add_argument("--epochs", type=int, default=5, help="Probe epochs when no --run is given.")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--limit", type=int, help="Time the first N test images only (accuracy: all of them).")
    p.add_argument(
        "--dynamic",
        action="store_true",
        help="Also the old dynamic int8 (slow on CNNs: 0.23x fp32 on MobileNetV2, see RESULTS.md).",
    )
    p.add_argument("--json", help="Write the results here as JSON.")
    args = p.parse_args(argv)
    quiet_libraries()
    from fieldtune.inference import onnx_export
    from fieldtune.inference.load import load_for_inference
    from fieldtune.inference.onnx import ONNX_FILE
    from fieldtune.inference.quantize import calibration_batches, quantize_int8

    tmp = Path(tempfile.mkdtemp(prefix="bench-int8-"))
    try:
        run = Path(args.run) if args.run else _probe_run(args.model, args.data, args.epochs, tmp / "run")
        loaded = load_for_inference(run, test_time="none")
        batches, refs = onnx_export.test_inputs(loaded, run)  # the held-out test split, batches of 32
        onnx_export.export_onnx(run, tmp / "fp32")  # checked against PyTorch on the test split
        # static int8 as `export --quantize int8` makes it (same functions), from the checked fp32 graph
        kind = loaded.task.inputs.quantization
        calibration = calibration_batches(loaded, run, None)
        shutil.copytree(tmp / "fp32", tmp / "static")
        quantize_int8(tmp / "fp32" / ONNX_FILE, tmp / "static" / ONNX_FILE, kind, calibration)
        quantization = {
            "kind": kind,
            "calibration_examples": sum(len(b["pixel_values"]) for b in calibration),
        }
        folders = {"fp32": tmp / "fp32", "int8 static": tmp / "static"}
        if args.dynamic:
            shutil.copytree(tmp / "fp32", tmp / "dynamic")
            quantize_int8(tmp / "fp32" / ONNX_FILE, tmp / "dynamic" / ONNX_FILE, "dynamic")
            folders["int8 dynamic"] = tmp / "dynamic"
        models = {name: load_for_inference(f, test_time="none") for name, f in folders.items()}
        timed = batches[: -(-args.limit // 32)] if args.limit else batches  # batches of 32
        per_s, logits = _timed(models, batches, timed, args.repeats)
        metric = loaded.task.primary_metric
        result: dict[str, Any] = {
            "model": args.model if not args.run else str(run), "data": args.data, "machine": machine_info(),
            "test_examples": len(refs), "timed_examples": sum(len(next(iter(b.values()))) for b in timed),
            "quantization": quantization, "models": {},
        }  # fmt: skip
        for name in models:
            metrics, _ = loaded.task.targets.evaluate(logits[name], refs, loaded.label_names)
            result["models"][name] = {
                "images_per_s": per_s[name],
                "accuracy": metrics["accuracy"],
                metric: metrics[metric],
            }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    fp32 = result["models"]["fp32"]
    rows = [
        (f"onnxruntime {name}", [m["images_per_s"], m["images_per_s"] / fp32["images_per_s"], m["accuracy"], m[metric]])
        for name, m in result["models"].items()
    ]  # fmt: skip
    print_table(
        f"{Path(args.model).name} on {Path(args.data).parent.name}: {len(refs)} held-out test images, batches of 32",
        ["images/s", "x fp32", "accuracy", metric],
        rows,
    )
    static = result["models"]["int8 static"]
    speedup = static["images_per_s"] / fp32["images_per_s"]
    lost = 100 * (fp32["accuracy"] - static["accuracy"])
    print_ratio("speed-up int8 static / fp32 onnxruntime", speedup, "images/s")
    print(f"accuracy lost by static int8 = {lost:.2f} points")
    print(
        f"target (static int8 >= 2x fp32 at <= 1 point lost): {'met' if speedup >= 2 and lost <= 1 else 'MISSED'}"
    )
    result.update(speedup=speedup, accuracy_points_lost=lost)
    emit_json(result, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
