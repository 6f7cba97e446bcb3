"""CPU inference throughput of one finished run: PyTorch eager vs onnxruntime fp32 vs onnxruntime int8.

One invocation, same inputs: the run's test split (rebuilt from its config.yaml, as the export's parity
check does) in batches of 32. The run is exported twice with `fieldtune export --format onnx`
(fp32, and `--quantize int8`) into a temporary folder; each model's test primary metric is computed from
one pass over the whole split (which also warms it up), then it is timed over `--repeats` passes of the
first `--limit` examples (default: all). The target of issue 14 is checked on text and printed: int8
onnxruntime >= 3x PyTorch eager samples/s at <= 1 point of the primary metric lost.

    python benchmarks/bench_onnx.py runs/hs_sections_minilm_full --json benchmarks/out/onnx.json

Threads: torch and onnxruntime both use `--threads` (default: all cores).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import emit_json, machine_info, print_ratio, print_table, quiet_libraries  # noqa: E402


def _timed(loaded: Any, batches: list[dict], timed: list[dict], repeats: int) -> tuple[float, Any]:
    from fieldtune.inference.load import predict_logits

    logits = predict_logits(loaded, batches)  # warm-up (and the logits the metric is computed from)
    start = time.perf_counter()
    for _ in range(repeats):
        done = len(predict_logits(loaded, timed))
    seconds = time.perf_counter() - start
    return repeats * done / seconds, logits


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", help="A finished fieldtune run directory.")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--limit", type=int, help="Time the first N test examples only (metrics: all of them).")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--json", help="Write the results here as JSON.")
    args = p.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    quiet_libraries()
    import torch

    torch.set_num_threads(args.threads)
    from fieldtune.inference import onnx_export
    from fieldtune.inference.load import load_for_inference

    run = Path(args.run)
    loaded = load_for_inference(run)
    batches, refs = onnx_export.test_inputs(loaded, run)
    timed = batches[: -(-args.limit // 32)] if args.limit else batches  # batches of 32
    metric = loaded.task.primary_metric
    rows, result = [], {"run": str(run), "machine": machine_info(), "threads": args.threads, "models": {}}
    with tempfile.TemporaryDirectory() as tmp:
        models = {"pytorch eager": loaded}
        for kind, quantize in (("onnxruntime fp32", None), ("onnxruntime int8", "int8")):
            out = Path(tmp) / (quantize or "fp32")
            onnx_export.export_onnx(run, out, quantize)
            models[kind] = load_for_inference(out)
        for kind, model in models.items():
            per_s, logits = _timed(model, batches, timed, args.repeats)
            metrics, _ = loaded.task.targets.evaluate(logits, refs, loaded.label_names)
            result["models"][kind] = {"samples_per_s": per_s, metric: metrics[metric]}
            rows.append((kind, [per_s, metrics[metric]]))
    base = result["models"]["pytorch eager"]["samples_per_s"]
    for kind in result["models"]:
        result["models"][kind]["speedup"] = result["models"][kind]["samples_per_s"] / base
    timed_n = sum(len(next(iter(b.values()))) for b in timed)
    title = (
        f"{run.name}: {metric} on {len(refs)} test examples, samples/s on {timed_n}, {args.threads} threads"
    )
    print_table(title, ["samples/s", metric], rows)
    int8, eager = result["models"]["onnxruntime int8"], result["models"]["pytorch eager"]
    print_ratio("speed-up onnxruntime int8 / pytorch eager", int8["speedup"], "samples/s")
    print_ratio(
        "speed-up onnxruntime fp32 / pytorch eager",
        result["models"]["onnxruntime fp32"]["speedup"],
        "samples/s",
    )
    lost = 100 * (eager[metric] - int8[metric]) * (1 if loaded.task.greater_is_better else -1)
    print(f"{metric} lost by int8 = {lost:.2f} points")
    if loaded.task.modality == "text":  # the target of issue 14
        met = int8["speedup"] >= 3 and lost <= 1
        print(f"target (int8 >= 3x eager at <= 1 point lost): {'met' if met else 'MISSED'}")
    result["int8_points_lost"] = lost
    emit_json(result, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
