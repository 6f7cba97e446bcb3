"""A cross-validation's fold ensemble exported as one ONNX graph (`fieldtune export CV_DIR --format onnx`):
onnxruntime gives what `fieldtune predict CV_DIR` gives, which no single fold does."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from fieldtune.cli import main
from fieldtune.inference.onnx import inference_session
from tests.test_cv import cv_config
from tests.test_train_text import TEXTS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cv_dir(tiny_bert, demand_csv, tmp_path_factory):
    from fieldtune.cv import run_cv

    config = cv_config(tiny_bert, demand_csv, folds=2, learning_rate=1e-2)
    return run_cv(config, output_dir=tmp_path_factory.mktemp("cv") / "cv").cv_dir


@pytest.fixture(scope="module")
def exported(cv_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("onnx") / "ensemble"
    assert main(["export", str(cv_dir), "--format", "onnx", "--out", str(out)]) == 0
    return out


def _predict(ref, tmp_path, name):
    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(TEXTS * 2) + "\n")
    path = tmp_path / f"{name}.csv"
    assert main(["predict", str(ref), "--input", str(texts), "--output", str(path), "--top-k", "3"]) == 0
    return pd.read_csv(path)


def _probabilities(frame: pd.DataFrame, labels: list[str]) -> np.ndarray:
    """predict's top-3 columns (all three classes) -> each row's probability of each label."""
    out = np.zeros((len(frame), len(labels)))
    for k in range(1, 4):
        name, score = ("label", "score") if k == 1 else (f"label_{k}", f"score_{k}")
        for i, (label, p) in enumerate(zip(frame[name], frame[score], strict=True)):
            out[i, labels.index(label)] = p
    return out


def test_one_graph_of_the_folds_gives_the_ensembles_predictions(cv_dir, exported, tmp_path):
    from transformers import AutoTokenizer

    assert sorted(p.name for p in exported.glob("*.onnx")) == ["model.onnx"]  # one file, no external data
    report = json.loads((exported / "export_report.json").read_text())
    assert report["cv_folds"] == 2 and report["outputs"] == ["logits", "probabilities"]
    assert report["parity"]["max_abs_diff"] <= 1e-4
    test_f1 = json.loads((cv_dir / "eval_results.json").read_text())["metrics"]["f1_macro"]
    assert report["metrics"]["fp32"]["f1_macro"] == pytest.approx(test_f1, abs=1e-6)  # the ensemble's score
    assert "2 fold models" in (exported / "README.md").read_text()

    config = json.loads((exported / "config.json").read_text())
    labels = [config["id2label"][str(i)] for i in range(len(config["id2label"]))]
    session = inference_session(exported / "model.onnx")  # plain onnxruntime, a batch of 2 x TEXTS
    enc = AutoTokenizer.from_pretrained(exported)(TEXTS * 2, padding=True, return_tensors="np")
    feed = {i.name: enc[i.name].astype(np.int64) for i in session.get_inputs()}
    logits, probabilities = session.run(["logits", "probabilities"], feed)
    ensemble = _probabilities(_predict(cv_dir, tmp_path, "cv"), labels)  # fieldtune's own ensemble
    np.testing.assert_allclose(probabilities, ensemble, atol=1e-4)
    np.testing.assert_allclose(np.exp(logits), probabilities, atol=1e-6)
    for fold in range(2):  # one fold alone is not the ensemble: exporting only one would fail the check above
        alone = _probabilities(_predict(cv_dir / f"fold-{fold}", tmp_path, f"fold-{fold}"), labels)
        assert np.abs(alone - ensemble).max() > 1e-3
    onnx_predict = _predict(exported, tmp_path, "onnx")  # the folder predicts as the CV directory
    np.testing.assert_allclose(_probabilities(onnx_predict, labels), ensemble, atol=1e-4)


def test_int8_export_of_the_ensemble(cv_dir, tmp_path):
    out = tmp_path / "int8"
    assert main(["export", str(cv_dir), "--format", "onnx", "--quantize", "int8", "--out", str(out)]) == 0
    report = json.loads((out / "export_report.json").read_text())
    assert report["quantization"]["kind"] == "dynamic" and "int8" in report["metrics"]
    assert sorted(p.name for p in out.glob("*.onnx")) == ["model.onnx"]
    names = [o.name for o in inference_session(out / "model.onnx").get_outputs()]
    assert names == ["logits", "probabilities"]


@pytest.mark.parametrize("kind", ["classes", "tags", "values"])
def test_the_graphs_average_is_the_ensembles(kind):
    """`averaged_tensors` (the ONNX graph) gives `averaged` (FoldEnsemble, predict) for every kind of target."""
    import torch

    from fieldtune.tasks.table import TASKS

    targets = next(t.targets for t in TASKS.values() if t.targets.name == kind)
    width = targets.head_labels(list("abcd"))["num_labels"]  # 4 outputs, or one number
    outs = [np.random.default_rng(i).normal(0, 3, (5, width)).astype(np.float32) for i in range(3)]
    logits, mean = targets.averaged_tensors([torch.from_numpy(x) for x in outs])
    np.testing.assert_allclose(logits.numpy(), targets.averaged(outs), atol=1e-4)
    np.testing.assert_allclose(targets.probabilities(logits.numpy()), mean.numpy(), atol=1e-6)
    assert not np.allclose(mean.numpy(), targets.probabilities(outs[0]), atol=1e-3)  # not one model's
