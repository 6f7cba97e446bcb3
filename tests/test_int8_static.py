"""`export --format onnx --quantize int8` on an image model (issue 32): static QDQ quantisation, per-channel
int8 weights, activations calibrated on training images (the run's train split, or --calibration), the
accuracy change reported; text models stay dynamic (tests/test_onnx_export.py)."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from fieldtune.cli import main
from fieldtune.config import data_config_from_dict
from fieldtune.datasets_builders import build_dataset
from fieldtune.inference.load import load_for_inference
from fieldtune.rundir.reader import RunDirectory
from fieldtune.training.run import run
from tests.test_batch_predict import _images
from tests.test_train_vision import tiny_vision, vision_config

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cnn_run(tmp_path_factory):
    """A tiny MobileNetV2 (a CNN: convolutions, depthwise ones, BatchNorm) trained one epoch."""
    model = tiny_vision(tmp_path_factory.mktemp("mobilenet"), "mobilenet")
    config = vision_config(model, "full", training={"num_train_epochs": 1}, data={"num_samples": 64})
    return run(config, output_dir=tmp_path_factory.mktemp("runs") / "cnn").run_dir


def _export(run_dir, out, *extra):
    assert (
        main(["export", str(run_dir), "--format", "onnx", "--quantize", "int8", "--out", str(out), *extra])
        == 0
    )
    return json.loads((out / "export_report.json").read_text())


def test_image_int8_is_static_qdq_per_channel(cnn_run, tmp_path, capsys):
    report = _export(cnn_run, tmp_path / "int8")
    printed = capsys.readouterr().out
    metric = report["primary_metric"]
    q = report["quantization"]
    assert q["kind"] == "static" and q["calibration"] == "train split"
    data = data_config_from_dict(RunDirectory(cnn_run).data_section)
    train_size = len(build_dataset(data, "image-classification")["train"])
    assert q["calibration_examples"] == min(300, train_size)
    fp32, int8 = report["metrics"]["fp32"][metric], report["metrics"]["int8"][metric]
    assert q["change"] == pytest.approx(int8 - fp32)
    assert f"int8 static quantisation: {metric} change {q['change']:+.4f}" in printed
    graph = onnx.load(str(tmp_path / "int8" / "model.onnx")).graph
    ops = [n.op_type for n in graph.node]
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops  # QDQ: activations quantised too
    assert "DynamicQuantizeLinear" not in ops and "MatMulInteger" not in ops  # not the dynamic recipe
    weights = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    conv_weights = [w for w in weights.values() if w.dtype == np.int8 and w.ndim == 4]
    assert conv_weights  # convolution weights stored as int8
    # per channel: a DequantizeLinear of a conv weight has one scale per output channel
    per_channel = [
        n for n in graph.node
        if n.op_type == "DequantizeLinear" and n.input[0] in weights and weights[n.input[0]].ndim == 4
        and weights[n.input[1]].size == weights[n.input[0]].shape[0] > 1
    ]  # fmt: skip
    assert per_channel
    config = json.loads((tmp_path / "int8" / "config.json").read_text())
    assert config["fieldtune_onnx"]["quantization"] == "static"
    loaded = load_for_inference(tmp_path / "int8")  # predict / evaluate / serve run it
    assert loaded.model.quantize == "int8"


def test_calibration_images_are_used(cnn_run, tmp_path):
    photos = _images(tmp_path / "photos", 12)
    report = _export(cnn_run, tmp_path / "int8", "--calibration", str(photos))
    q = report["quantization"]
    assert q["kind"] == "static" and q["calibration"] == str(photos) and q["calibration_examples"] == 12


def test_a_vision_transformer_is_quantised_dynamically(tmp_path_factory, tmp_path):
    """A ViT's graph is matrix products around one patch convolution: static activation ranges cost ViT-Tiny
    40 accuracy points on lithology (benchmarks/RESULTS.md), so it gets the text models' dynamic int8, and a
    --calibration it could not use is refused before anything is written."""
    model = tiny_vision(tmp_path_factory.mktemp("vit"), "vit")
    config = vision_config(model, "full", training={"num_train_epochs": 1}, data={"num_samples": 32})
    run_dir = run(config, output_dir=tmp_path / "runs" / "vit").run_dir
    report = _export(run_dir, tmp_path / "int8")
    assert report["quantization"]["kind"] == "dynamic" and report["quantization"]["calibration"] is None
    ops = [n.op_type for n in onnx.load(str(tmp_path / "int8" / "model.onnx")).graph.node]
    assert "DynamicQuantizeLinear" in ops and "QuantizeLinear" not in ops
    photos = _images(tmp_path / "photos", 4)
    out = tmp_path / "int8-calibrated"
    argv = ["export", str(run_dir), "--format", "onnx", "--quantize", "int8", "--out", str(out)]
    assert main([*argv, "--calibration", str(photos)]) == 2
    assert not out.exists()
