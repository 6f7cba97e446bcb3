"""CPU inference throughput of one finished run: PyTorch eager vs onnxruntime fp32 vs onnxruntime int8.

One invocation, same inputs: the run's test split (rebuilt from its config.yaml, as the export's parity
check does) in batches of 32. The run is exported twice with `fieldtune export --format onnx`
(fp32, and `--quantize int8`) into a temporary folder; each model is timed over `--repeats` passes after
one warm-up pass, and its test primary metric is computed from the same logits.

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

from benchmarks.common import emit_json, machine_info, print_table, quiet_libraries  # noqa: E402


def _timed(loaded: Any, batches: list[dict], repeats: int) -> tuple[float, Any]:
    from fieldtune.inference.load import predict_logits

    logits = predict_logits(loaded, batches)  # warm-up (and the logits the metric is computed from)
    start = time.perf_counter()
    for _ in range(repeats):
        predict_logits(loaded, batches)
    seconds = time.perf_counter() - start
    return repeats * len(logits) / seconds, logits


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", help="A finished fieldtune run directory.")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--json", help="Write the results here as JSON.")
    args = p.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    quiet_libraries()
    import torch

    torch.set_num_threads(args.threads)
    from fieldtune.inference import onnx_export
    from fieldtune.inference.load import load_for_inference
    from fieldtune.scoring import targets_of

    run = Path(args.run)
    loaded = load_for_inference(run)
    batches, refs = onnx_export.test_inputs(loaded, run)
    metric = loaded.task.primary_metric
    rows, result = [], {"run": str(run), "machine": machine_info(), "threads": args.threads, "models": {}}
    with tempfile.TemporaryDirectory() as tmp:
        models = {"pytorch eager": loaded}
        for kind, quantize in (("onnxruntime fp32", None), ("onnxruntime int8", "int8")):
            out = Path(tmp) / (quantize or "fp32")
            onnx_export.export_onnx(run, out, quantize)
            models[kind] = load_for_inference(out)
        for kind, model in models.items():
            per_s, logits = _timed(model, batches, args.repeats)
            metrics, _ = targets_of(loaded.task).evaluate(logits, refs, loaded.label_names)
            result["models"][kind] = {"samples_per_s": per_s, metric: metrics[metric]}
            rows.append((kind, [per_s, metrics[metric]]))
    base = result["models"]["pytorch eager"]["samples_per_s"]
    for kind in result["models"]:
        result["models"][kind]["speedup"] = result["models"][kind]["samples_per_s"] / base
    print_table(f"{run.name}: {len(refs)} test examples, {args.threads} threads", ["samples/s", metric], rows)
    emit_json(result, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
