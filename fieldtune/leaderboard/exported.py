"""Exported models on the leaderboard: an ONNX export folder's `export_report.json` read as eval results,
and the runtime a results file says its scores came from (`onnx fp32` / `onnx int8`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fieldtune.errors import RunDirError
from fieldtune.rundir.reader import read_results_file

EXPORT_REPORT_FILE = "export_report.json"  # an ONNX export folder (fieldtune/inference/onnx_export.py)


def runtime_of(results: dict[str, Any]) -> str | None:
    """`evaluate` of an exported folder writes `runtime: onnxruntime` and its `quantize`."""
    if results.get("runtime") != "onnxruntime":
        return None
    return f"onnx {results.get('quantize') or 'fp32'}"


def export_results(folder: Path, report_path: Path) -> dict[str, Any]:
    """An exported folder's `export_report.json` as eval results: the scores of the graph it holds (int8
    when quantised), measured at export on the run's test split (or the given --check-data)."""
    fix = (
        f"export the run again, or rank `fieldtune evaluate {folder} --data DATA --output FILE.json` instead"
    )
    report = read_results_file(report_path, fix)
    quantize = report.get("quantize")
    metrics = (
        (report.get("metrics") or {}).get(quantize or "fp32")
        if isinstance(report.get("metrics"), dict)
        else None
    )
    if not isinstance(metrics, dict):
        raise RunDirError(f"{report_path} holds no {quantize or 'fp32'} metrics; {fix}.")
    keep = (
        "task",
        "dataset",
        "split",
        "primary_metric",
        "greater_is_better",
        "base_model",
        "method",
        "total_params",
    )
    return {k: report.get(k) for k in keep} | {
        "metrics": metrics,
        "runtime": "onnxruntime",
        "quantize": quantize,
    }
