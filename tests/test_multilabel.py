"""Multi-label text (`text-multilabel`): labels as lists or delimited strings, BCE training, per-label
thresholds tuned on validation and saved with the model, multi-label metrics, predict and evaluate."""

from __future__ import annotations

import json
import random

import numpy as np
import pandas as pd
import pytest
import torch

from fieldtune.cli import main
from fieldtune.config import config_from_dict
from fieldtune.errors import ConfigError, DataError
from fieldtune.targets import Tags
from fieldtune.targets.thresholds import tune_thresholds
from fieldtune.training.run import run

TAGS = ("bulky", "cold", "urgent")


def write_tagged(path, vocab_words, n=240, seed=0, as_lists=True):
    """Notes whose tags are learnable: each tag has its own trigger word among random filler words."""
    rng = random.Random(seed)
    triggers = dict(zip(TAGS, vocab_words[:3], strict=True))
    filler = vocab_words[3:40]
    rows = []
    for _ in range(n):
        tags = sorted(t for t in TAGS if rng.random() < 0.4)
        words = rng.sample(filler, 5) + [triggers[t] for t in tags]
        rng.shuffle(words)
        rows.append({"note": " ".join(words), "tags": tags if as_lists else ";".join(tags)})
    if as_lists:
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        pd.DataFrame(rows).to_csv(path, index=False)
    return path


def vocab_words(tiny_bert):
    words = [w for w in (tiny_bert / "vocab.txt").read_text().split() if w.isalpha() and len(w) > 3]
    return words[:40]


def tag_config(model_dir, path, **training):
    return config_from_dict(
        {
            "task": "text-multilabel", "name": "tags", "model": {"name_or_path": str(model_dir), "max_length": 32},
            "data": {"builder": "text_table", "path": str(path), "text_columns": ["note"], "label_column": "tags"},
            "training": {"num_train_epochs": 20, "per_device_train_batch_size": 16, "learning_rate": 3e-3,
                         "seed": 0, **training},
        }
    )  # fmt: skip


@pytest.fixture(scope="module")
def tag_run(tiny_bert, tmp_path_factory):
    data = write_tagged(tmp_path_factory.mktemp("tags") / "notes.jsonl", vocab_words(tiny_bert))
    return run(
        tag_config(tiny_bert, data, class_weights="balanced"), output_dir=tmp_path_factory.mktemp("r") / "run"
    )


@pytest.mark.slow
def test_multilabel_run_learns_tags_and_saves_thresholds(tag_run):
    results = json.loads((tag_run.run_dir / "eval_results.json").read_text())
    metrics = results["metrics"]
    assert results["task"] == "text-multilabel" and results["primary_metric"] == "f1_macro"
    for key in (
        "f1_micro",
        "f1_macro",
        "f1_samples",
        "subset_accuracy",
        "hamming_loss",
        "mean_average_precision",
    ):
        assert key in metrics
    assert metrics["f1_macro"] > 0.8  # each tag has its own trigger word
    assert set(metrics["per_class"]) == set(TAGS)
    config = json.loads((tag_run.run_dir / "model" / "config.json").read_text())
    assert config["problem_type"] == "multi_label_classification"
    assert [config["id2label"][str(i)] for i in range(3)] == sorted(TAGS)
    assert len(config["fieldtune_thresholds"]) == 3 and results["thresholds"].keys() == set(TAGS)
    preds = pd.read_csv(tag_run.run_dir / "predictions.csv", keep_default_na=False)
    assert {"text", "label", "predicted", "score_cold"} <= set(preds.columns)
    assert (preds["label"] == preds["predicted"]).mean() > 0.5  # whole label sets right
    assert (tag_run.run_dir / "plots" / "label_scores.png").is_file()
    card = (tag_run.run_dir / "README.md").read_text()
    assert "top_k=None" in card and "threshold" in card


@pytest.mark.slow
def test_predict_and_evaluate_apply_the_saved_thresholds(tag_run, tiny_bert, tmp_path, capsys):
    words = vocab_words(tiny_bert)
    out = tmp_path / "p.csv"
    assert (
        main(
            [
                "predict",
                str(tag_run.run_dir),
                "--text",
                f"{words[5]} {words[1]} {words[6]}",
                "--output",
                str(out),
            ]
        )
        == 0
    )
    row = pd.read_csv(out, keep_default_na=False).iloc[0]
    assert "cold" in row["labels"].split(";") and {"score_bulky", "score_cold", "score_urgent"} <= set(
        row.index
    )
    fresh = write_tagged(tmp_path / "new.csv", words, n=60, seed=7, as_lists=False)
    assert (
        main(["evaluate", str(tag_run.run_dir), "--data", str(fresh), "--output", str(tmp_path / "e.json")])
        == 0
    )
    scored = json.loads((tmp_path / "e.json").read_text())
    assert scored["num_test_examples"] == 60 and scored["metrics"]["f1_macro"] > 0.7


def test_tuned_thresholds_beat_a_half_where_scores_are_shifted():
    rng = np.random.default_rng(0)
    refs = rng.integers(0, 2, size=(400, 2))
    # label 0's positives score around 0.3 and negatives around 0.1: 0.5 predicts nothing
    scores = np.where(refs == 1, 0.3, 0.1) + rng.normal(0, 0.03, size=refs.shape)
    thresholds = tune_thresholds(scores, refs)
    assert all(0.1 < t < 0.3 for t in thresholds)
    logits = np.log(scores / (1 - scores))
    tuned, _ = Tags().evaluate(logits, refs, ["a", "b"], thresholds)
    half, _ = Tags().evaluate(logits, refs, ["a", "b"], None)
    assert tuned["f1_macro"] > 0.95 > half["f1_macro"]


@pytest.mark.parametrize(
    "cell, error",
    [
        ('{"note": "a b", "tags": ["x"]}\n{"note": "c d", "tags": "x;y"}\n', "mixes lists and strings"),
    ],
)
def test_tag_columns_must_be_one_form(tiny_bert, tmp_path, cell, error):
    path = tmp_path / "t.jsonl"
    path.write_text(cell * 4)
    with pytest.raises(DataError, match=error):
        run(tag_config(tiny_bert, path), output_dir=tmp_path / "r")


def test_an_unknown_label_in_test_and_an_empty_delimiter_are_errors(tiny_bert, tmp_path):
    folder = tmp_path / "splits"
    folder.mkdir()
    write_tagged(folder / "train.jsonl", vocab_words(tiny_bert), n=40)
    (folder / "test.jsonl").write_text('{"note": "a b", "tags": ["fragile"]}\n')
    with pytest.raises(DataError, match="fragile.*never in train"):
        run(tag_config(tiny_bert, folder), output_dir=tmp_path / "r")
    with pytest.raises(ConfigError, match="label_delimiter"):
        config_from_dict(
            {"task": "text-multilabel", "model": {"name_or_path": "x"}, "data": {"label_delimiter": " "}}
        )


def test_rows_without_a_tag_are_kept_and_counted(tiny_bert, tmp_path, caplog):
    from fieldtune.datasets_builders import build_dataset

    path = write_tagged(tmp_path / "t.csv", vocab_words(tiny_bert), n=60, as_lists=False)
    untagged = (pd.read_csv(path, keep_default_na=False)["tags"] == "").sum()
    assert untagged > 0
    with caplog.at_level("WARNING"):
        dd = build_dataset(tag_config(tiny_bert, path).data, "text-multilabel")
    assert sum(len(s) for s in dd.values()) == 60
    assert f"{untagged} rows have no label" in caplog.text
    assert dd["train"].features["label"].feature.names == sorted(TAGS)


@pytest.mark.slow
def test_text_probe_trains_only_the_head_with_bce(tiny_bert, tmp_path):
    """probe on tags: the backbone stays as loaded, the head learns the label sets through BCE."""
    from transformers import AutoModelForSequenceClassification

    data = write_tagged(tmp_path / "notes.csv", vocab_words(tiny_bert), as_lists=False)
    config = tag_config(tiny_bert, data, num_train_epochs=3)
    config.method.name = "probe"
    result = run(config, output_dir=tmp_path / "run")
    assert result.results["method"] == "probe"
    assert result.results["trainable_params"] < result.results["total_params"] / 10
    saved = AutoModelForSequenceClassification.from_pretrained(result.run_dir / "model")
    base = AutoModelForSequenceClassification.from_pretrained(tiny_bert)
    name = "bert.encoder.layer.0.attention.self.query.weight"
    assert torch.equal(saved.state_dict()[name], base.state_dict()[name])  # the backbone is untouched
    history = json.loads((result.run_dir / "eval_results.json").read_text())
    assert "hamming_loss" in history["metrics"] and len(saved.config.fieldtune_thresholds) == 3


@pytest.mark.slow
def test_onnx_export_predicts_the_same_label_sets(tag_run, tiny_bert, tmp_path):
    """A multi-label run exports to ONNX within 1e-4 and predicts the same label sets and scores through
    onnxruntime as through PyTorch (the thresholds travel in the exported config.json)."""
    pytest.importorskip("onnxruntime")
    out = tmp_path / "onnx"
    assert main(["export", str(tag_run.run_dir), "--format", "onnx", "--out", str(out)]) == 0
    report = json.loads((out / "export_report.json").read_text())
    assert report["parity"]["max_abs_diff"] <= 1e-4 and report["parity"]["examples"] > 0
    exported = json.loads((out / "config.json").read_text())
    assert (
        exported["fieldtune_thresholds"]
        == json.loads((tag_run.run_dir / "model" / "config.json").read_text())["fieldtune_thresholds"]
    )
    words = vocab_words(tiny_bert)
    notes = tmp_path / "notes.txt"
    notes.write_text("".join(f"{words[i]} {words[(i * 7) % 40]} {words[(i * 3) % 40]}\n" for i in range(12)))
    frames = []
    for ref in (tag_run.run_dir, out):
        path = tmp_path / f"{len(frames)}.csv"
        assert main(["predict", str(ref), "--input", str(notes), "--output", str(path)]) == 0
        frames.append(pd.read_csv(path, keep_default_na=False))
    torch_df, onnx_df = frames
    assert list(torch_df.columns) == list(onnx_df.columns) and len(onnx_df) == 12
    assert (torch_df["labels"] == onnx_df["labels"]).all()
    scores = [c for c in torch_df.columns if c.startswith("score_")]
    np.testing.assert_allclose(onnx_df[scores].to_numpy(float), torch_df[scores].to_numpy(float), atol=1e-4)


@pytest.mark.slow
def test_the_onnx_readme_decodes_label_sets_with_thresholds(tag_run, tmp_path):
    """The exported folder's README says how to read the graph's logits: per-label sigmoid scores against
    the saved thresholds (an argmax would give one label, and the wrong one for a label set)."""
    out = tmp_path / "onnx"
    assert main(["export", str(tag_run.run_dir), "--format", "onnx", "--out", str(out)]) == 0
    readme = (out / "README.md").read_text()
    assert "1 / (1 + np.exp(-logits))" in readme and "fieldtune_thresholds" in readme
    assert "argmax" not in readme
