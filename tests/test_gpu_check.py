"""benchmarks/gpu_check.sh: the prepared GPU check runs end to end on a CPU with `--quick` and writes one JSON
with every section (figures, or the reason a GPU-only section was skipped) and one markdown table; the
reload parity it reports can fail; a missing dependency is named in one line, and nothing is installed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
SECTIONS = ["text", "images", "lora_memory", "probe", "multi_gpu", "parity"]


def number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


@pytest.fixture(scope="module")
def quick_check(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu_check") / "out"
    env = {**os.environ, "PYTHON": sys.executable, "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run(
        ["bash", "benchmarks/gpu_check.sh", "--quick", "--out", str(out)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out, json.loads((out / "gpu_check.json").read_text())


@pytest.mark.slow
def test_quick_check_writes_every_section_with_figures(quick_check):
    out, result = quick_check
    sections = result["sections"]
    assert sorted(sections) == sorted(SECTIONS) and result["quick"] is True
    assert {n: s["status"] for n, s in sections.items()} == {
        **dict.fromkeys(SECTIONS, "ok"),
        "multi_gpu": "skipped",
    }
    assert "2 or more" in sections["multi_gpu"]["skipped"]
    text, images = sections["text"], sections["images"]
    for body in (text, images):
        for side in ("fieldtune", "peer"):
            assert body[side]["samples_per_s"] > 0 and 0 <= body[side]["accuracy"] <= 1
        assert number(body["speedup_samples_per_s"]) and body["data"] and body["model"]
    assert text["fieldtune"]["padding"].startswith("dynamic") and text["peer"]["max_length"] == 128
    assert images["target"] == 5.0 and isinstance(images["meets_target"], bool)
    memory = sections["lora_memory"]
    assert memory["peak_mb"]["full"] > 0 and number(memory["ratio_lora"]) and "RSS" in memory["metric"]
    assert number(sections["probe"]["speedup_train"])
    parity = sections["parity"]["runs"]
    assert len(parity) == 6 and all(r["ok"] and r["rows"] > 0 for r in parity.values()), parity
    assert any(r["adapter"] for r in parity.values())  # a LoRA adapter reloaded through peft too
    table = (out / "gpu_check.md").read_text()
    assert all(f"| {name} |" in table for name in SECTIONS) and "backbone samples/s" in table


@pytest.mark.slow
def test_parity_fails_when_a_reload_predicts_something_else(quick_check, tmp_path):
    from benchmarks.gpu_check_parity import check_one

    out, result = quick_check
    assert Path(result["work_dir"]).parent == out.parent and sorted(p.name for p in out.iterdir()) == [
        "gpu_check.json",
        "gpu_check.md",
    ]  # the output folder holds the two result files alone (a GPU machine returns a few files only)
    run = shutil.copytree(Path(result["work_dir"]) / "text" / "fieldtune", tmp_path / "run")
    preds = pd.read_csv(run / "predictions.csv")
    labels = sorted(set(preds["label"]))
    preds["predicted"] = [labels[(labels.index(p) + 1) % len(labels)] for p in preds["predicted"]]
    preds.to_csv(run / "predictions.csv", index=False)
    result = check_one(run)  # in this process: the child's comparison itself (the quick run used the child)
    assert result["ok"] is False and result["agreement"] == 0 and result["rows"] == len(preds)


def test_without_a_gpu_the_full_check_refuses_in_one_line(tmp_path):
    env = {**os.environ, "PYTHON": sys.executable, "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run(
        ["bash", "benchmarks/gpu_check.sh", "--out", str(tmp_path / "out")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2 and not (tmp_path / "out").exists()
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()] and "--quick" in proc.stderr


def test_missing_dependencies_are_named_and_nothing_is_installed_without_a_source(
    monkeypatch, tmp_path, capsys
):
    from benchmarks import gpu_check_install as inst

    assert {"torch", "transformers", "datasets"} <= {inst.dist_name(r) for r in inst.dependencies()}
    assert inst.missing() == []  # this environment has every dependency
    calls = []
    monkeypatch.setattr(inst, "missing", lambda: ["iterative-stratification", "datasets"])
    monkeypatch.setattr(inst, "pip", lambda *a: calls.append(a) or False)  # offline: pip fails
    assert inst.install(tmp_path / "no-wheels") == 3
    err = capsys.readouterr().err
    assert "cannot import iterstrat, datasets" in err and "--download-wheels" in err
    assert calls == [
        ("install", "--retries", "0", "--timeout", "15", "-e", str(REPO))
    ]  # never --no-deps torch


def test_parity_names_an_ensemble_run_instead_of_comparing_half_of_it(tmp_path):
    from benchmarks.gpu_check_parity import check_one

    (tmp_path / "model" / "ensemble_baseline").mkdir(parents=True)
    pd.DataFrame({"text": ["a"], "label": ["x"], "predicted": ["x"], "score": [0.9]}).to_csv(
        tmp_path / "predictions.csv", index=False
    )
    result = check_one(tmp_path)
    assert result["ok"] is False and "ensemble.baseline_weight=0" in result["error"]
