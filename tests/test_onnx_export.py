"""ONNX export (`fieldtune export --format onnx`): parity with PyTorch at export, onnxruntime behind
`predict` / `evaluate`, int8 metrics, and a folder that plain onnxruntime + tokenizers can run."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from fieldtune.cli import main
from fieldtune.inference.load import load_for_inference, predict_logits, text_batches
from fieldtune.inference.onnx import OnnxModel
from fieldtune.training.run import run
from tests.test_train_text import TEXTS, text_config
from tests.test_train_vision import tiny_vision, vision_config

pytestmark = pytest.mark.slow


def _export(run_dir, out, *extra):
    assert main(["export", str(run_dir), "--format", "onnx", "--out", str(out), *extra]) == 0
    return json.loads((out / "export_report.json").read_text())


@pytest.fixture(scope="module")
def runs(tiny_bert, tmp_path_factory):
    """One tiny run per kind: text full (MLP head), text LoRA, text regression, image ViT."""
    root = tmp_path_factory.mktemp("onnx-runs")
    short = {"num_train_epochs": 1}
    vit = tiny_vision(tmp_path_factory.mktemp("vit"), "vit")
    configs = {
        "full": text_config(tiny_bert, model={"head": "mlp"}, training=short),
        "lora": text_config(tiny_bert, method={"name": "lora", "lora_r": 4}, training=short),
        "regression": text_config(
            tiny_bert, task="text-regression", data={"label_column": "demand_quantity"}, training=short
        ),
        "image": vision_config(vit, "full", training=short, data={"num_samples": 48}),
    }
    return {kind: run(cfg, output_dir=root / kind).run_dir for kind, cfg in configs.items()}


@pytest.fixture(scope="module")
def exported(runs, tmp_path_factory):
    root = tmp_path_factory.mktemp("onnx-out")
    return {kind: (root / kind, _export(d, root / kind)) for kind, d in runs.items()}


@pytest.mark.parametrize("kind", ["full", "lora", "regression", "image"])
def test_export_matches_pytorch(exported, runs, kind):
    out, report = exported[kind]
    for name in ("model.onnx", "config.json", "README.md", "export_report.json"):
        assert (out / name).is_file(), name
    assert not list(out.parent.glob(f".{kind}.*.tmp"))  # the temp sibling was renamed, nothing left
    assert report["parity"]["max_abs_diff"] <= 1e-4 and report["parity"]["examples"] > 0
    config = json.loads((out / "config.json").read_text())
    assert config["fieldtune_onnx"]["opset"] == 18
    run_results = json.loads((runs[kind] / "eval_results.json").read_text())
    metric = report["primary_metric"]
    # the fp32 graph reproduces the run's own test score (regression: the trainer batches differently)
    assert report["metrics"]["fp32"][metric] == pytest.approx(
        run_results["metrics"][metric], rel=1e-4, abs=1e-4
    )
    if kind == "image":
        assert (out / "preprocessor_config.json").is_file()
    else:
        assert (out / "tokenizer.json").is_file()
    if kind in ("full", "lora", "image"):
        assert set(config["id2label"].values()) == set(run_results["metrics"]["per_class"])


def test_dynamic_axes(exported):
    """Batch 1 and a sequence longer than any seen at export run through the text graph."""
    out, _ = exported["full"]
    loaded = load_for_inference(out)
    assert isinstance(loaded.model, OnnxModel)
    long = ["rice " * 40, "cement"]
    one = predict_logits(loaded, text_batches(loaded, long[:1], batch_size=1))
    both = predict_logits(loaded, text_batches(loaded, long, batch_size=2))
    assert one.shape == (1, 3) and both.shape == (2, 3)
    np.testing.assert_allclose(one[0], both[0], atol=1e-4)


@pytest.mark.parametrize("kind", ["full", "lora", "regression"])
def test_predict_onnx_equals_pytorch(exported, runs, kind, tmp_path):
    out, _ = exported[kind]
    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(TEXTS * 3) + "\n")
    frames = []
    for ref in (runs[kind], out):
        path = tmp_path / f"{ref.name}-{len(frames)}.csv"
        assert main(["predict", str(ref), "--input", str(texts), "--output", str(path), "--top-k", "2"]) == 0
        frames.append(pd.read_csv(path))
    torch_df, onnx_df = frames
    assert list(torch_df.columns) == list(onnx_df.columns) and len(onnx_df) == 6
    score = "value" if kind == "regression" else "score"
    if kind != "regression":
        assert (torch_df["label"] == onnx_df["label"]).all()
    np.testing.assert_allclose(onnx_df[score], torch_df[score], atol=1e-4)


def test_predict_and_evaluate_image(exported, runs, tmp_path):
    from PIL import Image

    out, _ = exported["image"]
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    frames = []
    for ref in (runs["image"], out):
        path = tmp_path / f"p{len(frames)}.jsonl"
        assert main(["predict", str(ref), "--input", str(folder), "--output", str(path)]) == 0
        frames.append(pd.read_json(path, lines=True))
    assert (frames[0]["label"] == frames[1]["label"]).all()
    np.testing.assert_allclose(frames[1]["score"], frames[0]["score"], atol=1e-4)


def test_evaluate_onnx_equals_pytorch(exported, runs, tmp_path, demand_csv):
    out, _ = exported["full"]
    results = []
    for ref in (runs["full"], out):
        path = tmp_path / f"{len(results)}.json"
        argv = ["evaluate", str(ref), "--data", str(demand_csv), "--builder", "text_table",
                "--text-column", "note", "--label-column", "demand_level", "--output", str(path)]  # fmt: skip
        assert main(argv) == 0
        results.append(json.loads(path.read_text()))
    torch_res, onnx_res = results
    assert onnx_res["runtime"] == "onnxruntime" and onnx_res["quantize"] is None
    assert onnx_res["metrics"]["accuracy"] == pytest.approx(torch_res["metrics"]["accuracy"])
    assert onnx_res["total_params"] == torch_res["total_params"]


def test_int8_export_records_metrics(runs, exported, tmp_path, demand_csv, capsys):
    """int8 metrics next to fp32 ones, here on all of a given --check-data; the folder ranks beside its run."""
    report = _export(runs["full"], tmp_path / "int8", "--quantize", "int8", "--check-data", str(demand_csv))
    printed = capsys.readouterr().out
    metric = report["primary_metric"]
    assert set(report["metrics"]) == {"fp32", "int8"}
    assert 0 <= report["metrics"]["int8"][metric] <= 1
    assert f"all {metric} fp32" in printed and f"all {metric} int8" in printed
    assert report["split"] == "all" and report["parity"]["examples"] == len(pd.read_csv(demand_csv))
    assert report["parity"]["max_abs_diff"] <= 1e-4 and report["source_run"] == str(runs["full"])
    assert not (tmp_path / "int8" / "model_fp32.onnx").exists()
    loaded = load_for_inference(tmp_path / "int8")
    assert loaded.model.quantize == "int8"
    ops = {n.op_type for n in __import__("onnx").load(str(tmp_path / "int8" / "model.onnx")).graph.node}
    assert ops & {"MatMulInteger", "DynamicQuantizeLinear"}  # weights really are int8
    assert report["quantization"]["kind"] == "dynamic" and report["quantization"]["calibration"] is None
    assert main(["leaderboard", str(runs["full"]), str(exported["full"][0])]) == 0
    board = capsys.readouterr().out
    assert "runtime" in board and "onnx fp32" in board and "pytorch" in board


def test_folder_runs_without_fieldtune(exported, runs):
    """The README's recipe: onnxruntime + tokenizers only, in a process that never imports fieldtune."""
    out, _ = exported["full"]
    script = f"""
import json, sys
import numpy as np, onnxruntime as ort
from tokenizers import Tokenizer
session = ort.InferenceSession({str(out / "model.onnx")!r})
tok = Tokenizer.from_file({str(out / "tokenizer.json")!r})
tok.enable_padding()
enc = tok.encode_batch({TEXTS!r})
names = [i.name for i in session.get_inputs()]
feed = {{"input_ids": [e.ids for e in enc], "attention_mask": [e.attention_mask for e in enc],
         "token_type_ids": [e.type_ids for e in enc]}}
feed = {{k: np.asarray(v, dtype=np.int64) for k, v in feed.items() if k in names}}
logits = session.run(["logits"], feed)[0]
assert "fieldtune" not in sys.modules and "torch" not in sys.modules
print(json.dumps(logits.tolist()))
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    plain = np.asarray(json.loads(proc.stdout))
    loaded = load_for_inference(runs["full"])
    reference = predict_logits(loaded, text_batches(loaded, TEXTS))
    np.testing.assert_allclose(plain, reference, atol=1e-4)
