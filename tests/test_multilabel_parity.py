"""Multi-label LoRA parity: the run reloads in fieldtune and in plain peft with the same scores, `export
--merge` keeps them (1e-4), and the merged model serves in `transformers.pipeline(top_k=None)` with the
real label names and fieldtune's sigmoid scores, in a process that never imports fieldtune."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fieldtune.cli import main
from fieldtune.inference.load import load_for_inference, predict_logits, text_batches
from fieldtune.targets import Tags
from fieldtune.targets.arrays import sigmoid
from tests.helpers import without_fieldtune
from tests.test_multilabel import TAGS, vocab_words

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def texts(tiny_bert):
    words = vocab_words(tiny_bert)
    return [f"{words[5]} {words[0]} {words[7]}", f"{words[1]} {words[2]} {words[9]} {words[11]}", words[20]]


@pytest.fixture(scope="module")
def ours(tag_lora_run, texts):
    loaded = load_for_inference(tag_lora_run.run_dir)
    return predict_logits(loaded, text_batches(loaded, texts))


@pytest.fixture(scope="module")
def merged(tag_lora_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("merged") / "model"
    assert main(["export", str(tag_lora_run.run_dir), "--merge", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def plain(tag_lora_run, merged, texts):
    return without_fieldtune(tag_lora_run.run_dir / "model", texts, merged)


def test_lora_run_is_multilabel_with_tuned_thresholds(tag_lora_run):
    # How well LoRA on a random tiny BERT learns is not the point here (test_multilabel.py checks learning)
    results = tag_lora_run.results
    assert results["method"] == "lora" and results["trainable_params"] < results["total_params"] / 3
    assert set(results["thresholds"]) == set(TAGS) and set(results["thresholds"].values()) != {0.5}


def test_plain_peft_reload_gives_identical_scores(ours, plain):
    np.testing.assert_allclose(np.asarray(plain["peft_logits"]), ours, atol=1e-5)


def test_merged_export_keeps_scores_and_thresholds(tag_lora_run, merged, ours, texts):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(merged).eval()
    with torch.no_grad():
        logits = model(
            **AutoTokenizer.from_pretrained(merged)(texts, padding=True, return_tensors="pt")
        ).logits
    np.testing.assert_allclose(logits.numpy(), ours, atol=1e-4)
    saved = json.loads((tag_lora_run.run_dir / "model" / "config.json").read_text())
    assert model.config.problem_type == "multi_label_classification"
    assert model.config.fieldtune_thresholds == saved["fieldtune_thresholds"]
    assert not (merged / "adapter_config.json").exists()


def test_pipeline_gives_label_names_and_sigmoid_scores(plain, ours, merged, tag_lora_run):
    expected = sigmoid(ours)
    thresholds = json.loads((merged / "config.json").read_text())["fieldtune_thresholds"]
    ours_rows = Tags().rows(ours, sorted(TAGS), top_k=0, thresholds=thresholds)
    for row, served, our_row in zip(expected, plain["pipeline"], ours_rows, strict=True):
        by_name = {item["label"]: item["score"] for item in served}
        assert set(by_name) == set(TAGS)  # every label, by its real name
        scores = [by_name[name] for name in sorted(TAGS)]
        np.testing.assert_allclose(scores, row, atol=1e-4)
        # the thresholds saved in the merged config turn the pipeline's scores into fieldtune's label set
        chosen = [name for name, s, t in zip(sorted(TAGS), scores, thresholds, strict=True) if s >= t]
        assert ";".join(chosen) == our_row["labels"]
