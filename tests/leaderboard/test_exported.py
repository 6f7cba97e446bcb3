"""An ONNX export ranks next to its run (issue 14): `leaderboard RUN EXPORTED_DIR` reads the folder's
export_report.json (the scores of the graph it holds: int8 when quantised), and `evaluate EXPORTED --output`
files rank too; the row's runtime says onnx fp32 / onnx int8, PyTorch rows say pytorch."""

from __future__ import annotations

import csv
import io
import json

import pytest

from fieldtune.errors import RunDirError
from fieldtune.leaderboard import build_leaderboard
from fieldtune.leaderboard.collect import entry_from_run
from fieldtune.leaderboard.render import render_csv
from tests.leaderboard.conftest import eval_results


def _export(tmp_path, name, quantize, fp32_f1, int8_f1=None):
    folder = tmp_path / name
    folder.mkdir()
    metrics = {"fp32": {"f1_macro": fp32_f1, "accuracy": 0.9}}
    if quantize:
        metrics["int8"] = {"f1_macro": int8_f1, "accuracy": 0.88}
    report = {
        "task": "text-classification", "dataset": "logistics_demand", "split": "test", "method": "lora",
        "base_model": "sentence-transformers/all-MiniLM-L6-v2", "greater_is_better": True, "total_params": 22_000_000,
        "source_run": "runs/demand", "format": "onnx", "opset": 18, "quantize": quantize,
        "primary_metric": "f1_macro", "metrics": metrics,
    }  # fmt: skip
    (folder / "export_report.json").write_text(json.dumps(report))
    (folder / "config.json").write_text("{}")
    return folder


def test_exported_folders_rank_beside_their_run(tmp_path, write_run):
    run = write_run("demand", eval_results("runs/demand", f1=0.81))
    fp32 = _export(tmp_path, "onnx", None, 0.81)
    int8 = _export(tmp_path, "onnx-int8", "int8", 0.81, int8_f1=0.79)
    evaluated = tmp_path / "evaluated.json"  # `fieldtune evaluate onnx-int8 --output evaluated.json`
    evaluated.write_text(json.dumps(eval_results(str(int8), f1=0.80, runtime="onnxruntime", quantize="int8")))
    boards, text = build_leaderboard([run, fp32, int8, evaluated], [])
    assert len(boards) == 1  # one (task, dataset, split): the exports join their run's board
    rows = {row.entry.model: row.entry for row in boards[0].rows}
    assert rows[str(int8)].metrics["f1_macro"] == 0.79  # the int8 graph's own score, not the fp32 one
    assert (rows[str(fp32)].runtime, rows[str(int8)].runtime, rows["runs/demand"].runtime) == (
        "onnx fp32",
        "onnx int8",
        None,
    )
    assert rows[str(int8)].method == "lora" and rows[str(int8)].total_params == 22_000_000
    header = text.splitlines()[1].split()
    assert "runtime" in header
    lines = {line.split()[1]: line for line in text.splitlines()[3:] if line.strip()}
    assert "onnx int8" in lines[str(int8)] and "pytorch" in lines["runs/demand"]
    records = list(csv.DictReader(io.StringIO(render_csv(boards))))
    assert sorted(r["runtime"] for r in records) == ["", "onnx fp32", "onnx int8", "onnx int8"]


def test_board_without_exports_keeps_its_columns(write_run):
    _, text = build_leaderboard(
        [write_run("a", eval_results("a")), write_run("b", eval_results("b", f1=0.7))], []
    )
    assert "runtime" not in text


def test_unreadable_export_report_is_one_line(tmp_path):
    folder = _export(tmp_path, "onnx", None, 0.8)
    (folder / "export_report.json").write_text('{"metrics": {}}')
    with pytest.raises(RunDirError, match="export_report.json holds no fp32 metrics"):
        entry_from_run(folder)
