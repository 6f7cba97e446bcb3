"""`model.pooling` (issue 35): `auto` reads a sentence-transformers checkpoint's Pooling config; `mean` is the
masked mean of the last hidden states under the head, trained, saved as a custom-code model, reloaded by
fieldtune's loaders and by plain transformers with `trust_remote_code=True` (and refused without it), and
carried by the ONNX export."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from transformers import AutoTokenizer, BertModel

from fieldtune.config import MethodConfig, ModelConfig
from fieldtune.inference.load import load_for_inference, predict_logits, text_batches
from fieldtune.modeling.create import create_model
from fieldtune.modeling.pooling import checkpoint_pooling, resolve_pooling
from fieldtune.tasks.table import get_task
from fieldtune.training.run import run
from tests.helpers import make_sentence_transformers
from tests.test_train_text import TEXTS, text_config

LABELS = ["low", "medium", "high"]


@pytest.fixture(scope="module")
def st_bert(tiny_bert, tmp_path_factory):
    """The tiny BERT as a sentence-transformers checkpoint trained for mean pooling (as all-MiniLM-L6-v2)."""
    return make_sentence_transformers(tmp_path_factory.mktemp("st-mean"), tiny_bert, "mean")


def _model(path, pooling, task="text-classification"):
    cfg = ModelConfig(name_or_path=str(path), max_length=48, pooling=pooling)
    model, info = create_model(cfg, get_task(task), LABELS, MethodConfig())
    return model.eval(), info


def test_auto_reads_the_sentence_transformers_pooling(tiny_bert, st_bert, tmp_path):
    cls_st = make_sentence_transformers(tmp_path / "st-cls", tiny_bert, "cls")
    max_st = make_sentence_transformers(tmp_path / "st-max", tiny_bert, "max")
    assert checkpoint_pooling(str(st_bert)) == "mean"
    assert checkpoint_pooling(str(cls_st)) == "cls"
    assert checkpoint_pooling(str(max_st)) is None  # pools otherwise: the architecture's own head
    assert checkpoint_pooling(str(tiny_bert)) is None  # not a sentence-transformers checkpoint
    assert resolve_pooling("auto", str(st_bert)) == "mean"
    assert [resolve_pooling("auto", str(p)) for p in (cls_st, max_st, tiny_bert)] == ["cls"] * 3
    assert resolve_pooling(None, str(st_bert)) == "cls"  # unset: the architecture's own head, as before
    assert resolve_pooling("cls", str(st_bert)) == "cls"
    auto, info = _model(st_bert, "auto")
    assert type(auto).__name__ == "MeanPooledForSequenceClassification" and info.pooling == "mean"
    own, info = _model(tiny_bert, "auto")
    assert type(own).__name__ == "BertForSequenceClassification" and info.pooling == "cls"


def test_auto_reads_a_packaged_checkpoint_by_its_hub_id(st_bert, tmp_path, monkeypatch):
    """all-MiniLM-L6-v2 is named by its Hub id but read from its package: `auto` must read that folder."""
    import shutil

    from fieldtune.modeling import checkpoint

    shutil.copytree(st_bert, tmp_path / "site" / "tiny_packaged_st" / "model")
    (tmp_path / "site" / "tiny_packaged_st" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setitem(
        checkpoint.PACKAGED_MODELS, "sentence-transformers/tiny-st", ("tiny_packaged_st", "model")
    )
    _, info = _model("sentence-transformers/tiny-st", "auto")
    assert info.pooling == "mean"


def test_mean_pooled_logits_are_the_masked_mean_through_the_head(tiny_bert):
    model, _ = _model(tiny_bert, "mean")
    tok = AutoTokenizer.from_pretrained(tiny_bert)
    batch = tok(TEXTS, padding=True, return_tensors="pt")
    assert (batch["attention_mask"] == 0).any()  # the shorter text is padded
    with torch.no_grad():
        logits = model(**batch).logits
        # by hand, from the checkpoint's own weights (wrapping kept them) and the trained head's
        plain = BertModel.from_pretrained(tiny_bert).eval()
        hidden = plain(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).float()
        pooled = (hidden * mask).sum(1) / mask.sum(1)
        expected = pooled @ model.classifier.weight.T + model.classifier.bias
    np.testing.assert_allclose(logits.numpy(), expected.numpy(), atol=1e-5)
    first_token, _ = _model(tiny_bert, "cls")
    with torch.no_grad():
        assert not np.allclose(first_token(**batch).logits.numpy(), logits.numpy(), atol=1e-3)


def test_padding_does_not_change_the_prediction(tiny_bert):
    model, _ = _model(tiny_bert, "mean")
    tok = AutoTokenizer.from_pretrained(tiny_bert)
    with torch.no_grad():
        tight = model(**tok(TEXTS[:1], return_tensors="pt")).logits
        padded = model(**tok(TEXTS[:1], padding="max_length", max_length=48, return_tensors="pt")).logits
    np.testing.assert_allclose(tight.numpy(), padded.numpy(), atol=1e-5)


@pytest.fixture(scope="module")
def mean_run(st_bert, tmp_path_factory):
    """A full fine-tune with `pooling: auto` on the sentence-transformers checkpoint: mean pooling."""
    out = tmp_path_factory.mktemp("runs") / "mean"
    return run(text_config(st_bert, model={"pooling": "auto"}), output_dir=out)


PLAIN = """
import json, sys, torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline
folder, texts = sys.argv[1], json.loads(sys.argv[2])
try:
    AutoModelForSequenceClassification.from_pretrained(folder)  # no trust_remote_code: refused, not first-token
    refused = ""
except ValueError as e:
    refused = str(e)
model = AutoModelForSequenceClassification.from_pretrained(folder, trust_remote_code=True).eval()
tok = AutoTokenizer.from_pretrained(folder)
with torch.no_grad():
    logits = model(**tok(texts, padding=True, truncation=True, max_length=48, return_tensors="pt")).logits
served = pipeline("text-classification", model=folder, trust_remote_code=True, top_k=None)(texts)
assert not any(m.startswith("fieldtune") for m in sys.modules)
print(json.dumps({"refused": refused, "logits": logits.tolist(), "pipeline": served}))
"""


def plain_transformers(folder, texts):
    proc = subprocess.run(
        [sys.executable, "-c", PLAIN, str(folder), json.dumps(texts)],
        capture_output=True, text=True, timeout=180, check=True, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    last = proc.stdout.strip().splitlines()[-1]  # after transformers' "run the custom code? [y/N]" prompt
    return json.loads(last[last.index("{") :])


def test_mean_run_saves_a_custom_code_model(mean_run):
    folder = mean_run.run_dir / "model"
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "fieldtune_mean_pooled" and config["backbone"]["model_type"] == "bert"
    assert config["auto_map"]["AutoModelForSequenceClassification"].startswith("mean_pooled.")
    source = (folder / "mean_pooled.py").read_text()
    assert "import fieldtune" not in source and "from fieldtune" not in source  # self-contained
    assert mean_run.results["pooling"] == "mean"
    card = (mean_run.run_dir / "README.md").read_text()
    assert "trust_remote_code=True" in card and "mean of the token states" in card


def test_mean_run_reloads_identically_in_fieldtune_and_plain_transformers(mean_run):
    loaded = load_for_inference(mean_run.run_dir)
    assert type(loaded.model).__module__ == "fieldtune.modeling.mean_pooled"  # its own code, not the copy
    ours = predict_logits(loaded, text_batches(loaded, TEXTS))
    theirs = plain_transformers(mean_run.run_dir / "model", TEXTS)
    assert "trust_remote_code=True" in theirs["refused"]
    np.testing.assert_allclose(ours, np.asarray(theirs["logits"]), atol=1e-5)
    probs = torch.softmax(torch.from_numpy(ours), -1).numpy()
    for row, served in zip(probs, theirs["pipeline"], strict=True):
        scores = {s["label"]: s["score"] for s in served}
        np.testing.assert_allclose([scores[n] for n in loaded.label_names], row, atol=1e-5)


def test_mean_run_test_predictions_match_the_reloaded_model(mean_run):
    import pandas as pd

    preds = pd.read_csv(mean_run.run_dir / "predictions.csv")
    loaded = load_for_inference(mean_run.run_dir)
    logits = predict_logits(loaded, text_batches(loaded, preds["text"].tolist()))
    assert [loaded.label_names[i] for i in logits.argmax(-1)] == preds["predicted"].tolist()


def test_onnx_export_carries_the_mean_pooling(mean_run, tmp_path):
    from fieldtune.cli import main

    out = tmp_path / "onnx"
    assert main(["export", str(mean_run.run_dir), "--format", "onnx", "--out", str(out)]) == 0
    report = json.loads((out / "export_report.json").read_text())
    assert report["parity"]["max_abs_diff"] <= report["parity"]["tolerance"]
    onnx = load_for_inference(out)
    torch_model = load_for_inference(mean_run.run_dir)
    long = [TEXTS[0], "rice"]  # very different lengths: the padded row's mean must leave the padding out
    np.testing.assert_allclose(
        predict_logits(onnx, text_batches(onnx, long)),
        predict_logits(torch_model, text_batches(torch_model, long)),
        atol=1e-4,
    )


@pytest.fixture(scope="module")
def mean_lora_run(tiny_bert, tmp_path_factory):
    """LoRA + mean pooling + fieldtune's MLP head: the adapter's base is rebuilt as training built it."""
    out = tmp_path_factory.mktemp("runs") / "mean-lora"
    config = text_config(
        tiny_bert,
        model={"pooling": "mean", "head": "mlp", "head_hidden_size": 16},
        method={"name": "lora", "lora_r": 4},
        training={"learning_rate": 5e-3},
    )
    return run(config, output_dir=out)


def test_mean_lora_adapter_reloads_and_merges(mean_lora_run, tmp_path):
    import pandas as pd

    from fieldtune.cli import main

    folder = mean_lora_run.run_dir / "model"
    assert (folder / "adapter_config.json").is_file() and (folder / "mean_pooled.py").is_file()
    preds = pd.read_csv(mean_lora_run.run_dir / "predictions.csv")
    loaded = load_for_inference(mean_lora_run.run_dir)
    ours = predict_logits(loaded, text_batches(loaded, preds["text"].tolist()))
    assert [loaded.label_names[i] for i in ours.argmax(-1)] == preds["predicted"].tolist()
    card = (mean_lora_run.run_dir / "README.md").read_text()
    assert "--merge" in card and "trust_remote_code=True" in card
    merged = tmp_path / "merged"
    assert main(["export", str(mean_lora_run.run_dir), "--merge", "--out", str(merged)]) == 0
    theirs = plain_transformers(merged, TEXTS)
    np.testing.assert_allclose(
        predict_logits(loaded, text_batches(loaded, TEXTS)), np.asarray(theirs["logits"]), atol=1e-4
    )
