"""End to end on a tiny random BERT: train -> run directory -> reload -> evaluate / predict / export."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from huggingface_hub import ModelCard

from fieldtune.config import config_from_dict
from fieldtune.inference.load import load_for_inference, predict_logits, text_batches
from fieldtune.training.run import run

pytestmark = pytest.mark.slow
TEXTS = [
    "Please book two pallets of rice sacks. Customer: a corner shop, North.",
    "a full truckload of cement bags, urgent",
]


def text_config(model_dir, **sections):
    data = {"builder": "logistics_demand", "num_samples": 120, "seed": 0}
    data.update(sections.pop("data", {}))
    training = {"num_train_epochs": 2, "per_device_train_batch_size": 16, "learning_rate": 1e-3, "seed": 0}
    training.update(sections.pop("training", {}))
    model = {"name_or_path": str(model_dir), "max_length": 48, **sections.pop("model", {})}
    return config_from_dict(
        {"task": sections.pop("task", "text-classification"), "name": "t", "model": model,
         "data": data, "training": training, **sections}
    )  # fmt: skip


@pytest.fixture(scope="module")
def full_run(tiny_bert, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "full"
    return run(
        text_config(tiny_bert, training={"class_weights": "balanced", "early_stopping_patience": 2}),
        output_dir=out,
    )


@pytest.fixture(scope="module")
def lora_run(tiny_bert, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "lora"
    return run(
        text_config(tiny_bert, method={"name": "lora", "lora_r": 4}, training={"learning_rate": 5e-3}),
        output_dir=out,
    )


def test_run_directory_contract(full_run):
    d = full_run.run_dir
    for name in ("config.yaml", "model/config.json", "model/model.safetensors", "model/tokenizer.json", "eval_results.json",
                 "predictions.csv", "plots/confusion_matrix.png", "plots/learning_curves.png", "README.md"):  # fmt: skip
        assert (d / name).is_file(), name
    assert any((d / "logs").rglob("events.out.tfevents*"))
    assert any((d / "checkpoints").glob("checkpoint-*"))
    assert not (d / ".incomplete").exists()
    results = json.loads((d / "eval_results.json").read_text())
    assert {"task", "dataset", "split", "metrics", "primary_metric", "model", "base_model", "method", "trainable_params",
            "total_params", "train_runtime_s", "train_samples_per_s", "fieldtune_version", "precision"} <= set(results)  # fmt: skip
    assert results["split"] == "test" and results["dataset"] == "logistics_demand"
    assert set(results["metrics"]) >= {"accuracy", "f1_macro", "precision_macro", "recall_macro", "per_class"}
    assert results["precision"] in ("bf16", "fp32")
    preds = pd.read_csv(d / "predictions.csv")
    assert len(preds) == results["num_test_examples"]
    # predictions.csv rows line up with the metrics (evaluation order is sequential)
    assert (preds["label"] == preds["predicted"]).mean() == pytest.approx(results["metrics"]["accuracy"])


def test_text_run_config_holds_no_image_settings(full_run):
    """A text run's config.yaml carried the image augmentation section (issue 33)."""
    import yaml

    saved = yaml.safe_load((full_run.run_dir / "config.yaml").read_text())
    assert not {"augment", "image_size", "image_column"} & set(saved["data"]), saved["data"]
    assert not {"mixup_alpha", "cutmix_alpha"} & set(saved["training"])
    assert saved["model"]["max_length"] == 48 and saved["data"]["builder"] == "logistics_demand"
    assert "augment" not in (full_run.run_dir / "README.md").read_text()


def test_model_card_has_parsable_model_index(full_run):
    card = ModelCard.load(full_run.run_dir / "README.md")
    results = {r.metric_type: r.metric_value for r in card.data.eval_results}
    assert results["accuracy"] == pytest.approx(
        json.loads((full_run.run_dir / "eval_results.json").read_text())["metrics"]["accuracy"]
    )
    assert card.data.library_name == "transformers" and card.data.pipeline_tag == "text-classification"
    assert "## Limitations" in card.text and "How to use" in card.text


def test_full_model_loads_in_plain_transformers_with_labels(full_run):
    code = f"""
import sys
from transformers import pipeline
clf = pipeline("text-classification", model={str(full_run.run_dir / "model")!r})
out = clf({TEXTS[0]!r})
assert out[0]["label"] in {{"low", "medium", "high"}}, out
assert not any(m.startswith("fieldtune") for m in sys.modules)
"""
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_lora_trains_adapter_and_head_only(lora_run):
    results = lora_run.results
    assert results["trainable_params"] < results["total_params"] / 3
    cfg = json.loads((lora_run.run_dir / "model" / "adapter_config.json").read_text())
    assert cfg["modules_to_save"] and "classifier" in cfg["modules_to_save"]
    loaded = load_for_inference(lora_run.run_dir)
    names = [n for n, _ in loaded.model.named_modules()]
    assert not any("classifier" in n and "lora_" in n for n in names)  # the head is never a LoRA target
    assert any("query.lora_A" in n for n in names)


def test_lora_reload_and_merge_parity(lora_run, tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from fieldtune.cli import main
    from tests.helpers import without_fieldtune

    model_dir = lora_run.run_dir / "model"
    ours = predict_logits(loaded := load_for_inference(lora_run.run_dir), text_batches(loaded, TEXTS))
    theirs = np.asarray(without_fieldtune(model_dir, TEXTS)["peft_logits"])  # plain peft, no fieldtune
    np.testing.assert_allclose(ours, theirs, atol=1e-5)
    tok = AutoTokenizer.from_pretrained(model_dir)

    assert main(["export", str(lora_run.run_dir), "--merge", "--out", str(tmp_path / "merged")]) == 0
    merged = AutoModelForSequenceClassification.from_pretrained(tmp_path / "merged").eval()
    with torch.no_grad():
        merged_logits = merged(**tok(TEXTS, padding=True, return_tensors="pt")).logits.numpy()
    np.testing.assert_allclose(ours, merged_logits, atol=1e-4)
    assert merged.config.id2label[0] in {"low", "medium", "high"}
    assert not (tmp_path / "merged" / "adapter_config.json").exists()


def test_lora_with_activation_checkpointing_learns_the_same_adapter(tiny_bert, tmp_path):
    """The memory recipe (LoRA + activation checkpointing) must train the adapter, not silently freeze it."""
    from safetensors.torch import load_file

    adapters = []
    for ckpt in (False, True):
        cfg = text_config(
            tiny_bert,
            method={"name": "lora", "lora_r": 4},
            training={"num_train_epochs": 1, "learning_rate": 5e-3, "activation_checkpointing": ckpt},
        )
        adapters.append(
            load_file(
                run(cfg, output_dir=tmp_path / str(ckpt)).run_dir / "model" / "adapter_model.safetensors"
            )
        )
    plain, checkpointed = adapters
    assert plain.keys() == checkpointed.keys() and any("lora_B" in k for k in plain)
    for key in plain:
        torch.testing.assert_close(checkpointed[key], plain[key], atol=1e-5, rtol=1e-4)
    assert any(float(v.abs().max()) > 0 for k, v in checkpointed.items() if "lora_B" in k)  # B starts at zero


def test_regression_predicts_real_units(tiny_bert, tmp_path):
    cfg = text_config(tiny_bert, task="text-regression", training={"num_train_epochs": 1})
    result = run(cfg, output_dir=tmp_path / "reg")
    assert (
        set(result.results["metrics"]) == {"mae", "rmse", "r2"} and result.results["primary_metric"] == "rmse"
    )
    assert (result.run_dir / "plots" / "predicted_vs_true.png").is_file()
    preds = pd.read_csv(result.run_dir / "predictions.csv")
    # the head was un-standardised: a plain transformers model outputs values on the target's scale
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(result.run_dir / "model").eval()
    tok = AutoTokenizer.from_pretrained(result.run_dir / "model")
    with torch.no_grad():
        values = (
            model(**tok(preds["text"].tolist()[:8], padding=True, return_tensors="pt")).logits[:, 0].numpy()
        )
    np.testing.assert_allclose(values, preds["predicted"].to_numpy()[:8], rtol=1e-3, atol=1e-2)
    assert abs(np.mean(values) - preds["label"].mean()) < 3 * preds["label"].std()


def test_freeze_trains_only_top_layers_and_head(tiny_bert, tmp_path):
    from fieldtune.modeling.create import create_model
    from fieldtune.tasks.table import TASKS

    cfg = text_config(tiny_bert, method={"name": "freeze", "trainable_layers": 1})
    model, _ = create_model(cfg.model, TASKS["text-classification"], ["a", "b"], cfg.method)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith(("bert.encoder.layer.1.", "classifier.")) for n in trainable)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    result = run(cfg, output_dir=tmp_path / "freeze")
    from transformers import AutoModelForSequenceClassification

    after = dict(
        AutoModelForSequenceClassification.from_pretrained(result.run_dir / "model").named_parameters()
    )
    assert torch.equal(
        before["bert.encoder.layer.0.attention.self.query.weight"],
        after["bert.encoder.layer.0.attention.self.query.weight"],
    )
    assert not torch.equal(
        before["bert.encoder.layer.1.attention.self.query.weight"],
        after["bert.encoder.layer.1.attention.self.query.weight"],
    )


def test_frozen_embeddings_without_dropout(tiny_bert, tmp_path):
    """The fast text recipe: the token table keeps its pretrained values, everything else trains, the
    backbone's dropout is off, and the attention kernel asked for is the one the run used and records."""
    from transformers import AutoModelForSequenceClassification

    from fieldtune.modeling.create import create_model
    from fieldtune.tasks.table import TASKS

    cfg = text_config(
        tiny_bert, model={"dropout": 0.0, "attn_implementation": "eager"}, method={"freeze_embeddings": True}
    )
    model, _ = create_model(cfg.model, TASKS["text-classification"], ["a", "b", "c"], cfg.method)
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert frozen == {"bert.embeddings.word_embeddings.weight"}
    dropouts = [m.p for m in model.bert.modules() if isinstance(m, torch.nn.Dropout)]
    assert dropouts and set(dropouts) == {0.0}
    assert model.config.attention_probs_dropout_prob == 0.0
    before = {n: p.detach().clone() for n, p in model.named_parameters()}

    result = run(cfg, output_dir=tmp_path / "fast")
    assert result.results["attn_implementation"] == "eager"
    saved = AutoModelForSequenceClassification.from_pretrained(result.run_dir / "model")
    after = dict(saved.named_parameters())
    table = "bert.embeddings.word_embeddings.weight"
    assert torch.equal(before[table], after[table])
    for name in ("bert.embeddings.position_embeddings.weight", "bert.encoder.layer.0.output.dense.weight"):
        assert not torch.equal(before[name], after[name]), name
    assert saved.config.hidden_dropout_prob == 0.0


def test_dropout_needs_a_model_that_has_it():
    from transformers import ResNetConfig

    from fieldtune.errors import FieldtuneError
    from fieldtune.modeling.dropout import set_backbone_dropout

    with pytest.raises(FieldtuneError, match="model.dropout.*resnet.*remove the key"):
        set_backbone_dropout(ResNetConfig(), 0.0)


@pytest.mark.parametrize(
    ("requested", "precision", "cpu", "expected"),
    [
        ("auto", "bf16", True, "eager"),  # SDPA's CPU kernels are the slow path in bf16
        ("auto", "fp32", True, None),
        ("auto", "bf16", False, None),
        ("sdpa", "bf16", True, "sdpa"),
        ("eager", "fp32", False, "eager"),
    ],
)
def test_attention_kernel_choice(monkeypatch, requested, precision, cpu, expected):
    from fieldtune.modeling.precision import resolve_attention

    monkeypatch.setattr(torch.cuda, "is_available", lambda: not cpu)
    assert resolve_attention(requested, precision, use_cpu=cpu) == expected


def test_evaluate_and_predict_commands(full_run, tmp_path, capsys):
    from fieldtune.cli import main

    out = tmp_path / "eval.json"
    assert main(["evaluate", str(full_run.run_dir), "--output", str(out)]) == 0
    again = json.loads(out.read_text())
    assert again["metrics"]["accuracy"] == pytest.approx(full_run.results["metrics"]["accuracy"], abs=1e-6)
    inputs = tmp_path / "in.csv"
    pd.DataFrame({"note": TEXTS}).to_csv(inputs, index=False)
    assert (
        main(
            [
                "predict",
                str(full_run.run_dir),
                "--input",
                str(inputs),
                "--output",
                str(tmp_path / "p.csv"),
                "--top-k",
                "2",
            ]
        )
        == 0
    )
    preds = pd.read_csv(tmp_path / "p.csv")
    assert list(preds.columns) == ["text", "label", "score", "label_2", "score_2"] and len(preds) == 2
    assert (
        main(
            [
                "predict",
                str(full_run.run_dir),
                "--input",
                "urgent: a full truckload of cement",
                "--output",
                str(tmp_path / "p.jsonl"),
            ]
        )
        == 0
    )
    assert json.loads((tmp_path / "p.jsonl").read_text().splitlines()[0])["label"] in {
        "low",
        "medium",
        "high",
    }


def test_existing_run_dir_is_refused_and_left_alone(full_run, tiny_bert):
    from fieldtune.errors import RunDirError

    before = (full_run.run_dir / "eval_results.json").read_bytes()
    with pytest.raises(RunDirError, match="--overwrite"):
        run(text_config(tiny_bert), output_dir=full_run.run_dir)
    assert (full_run.run_dir / "eval_results.json").read_bytes() == before


def test_reported_test_scores_are_those_of_the_saved_fp32_weights(tiny_bert, tmp_path):
    """Mixed precision autocasts every forward pass of training; the test figures a run reports come from
    the saved fp32 weights run as any loader runs them, so a reload reproduces predictions.csv exactly."""
    from fieldtune.datasets_builders import build_dataset
    from fieldtune.inference.load import split_batches

    cfg = text_config(tiny_bert, training={"precision": "bf16"})
    result = run(cfg, output_dir=tmp_path / "run")
    assert result.results["precision"] == "bf16"
    loaded = load_for_inference(result.run_dir)
    test = build_dataset(cfg.data, cfg.task)["test"]
    probs = torch.tensor(predict_logits(loaded, split_batches(loaded, test))).softmax(-1)
    recorded = pd.read_csv(result.run_dir / "predictions.csv")["score"].to_numpy()
    np.testing.assert_allclose(recorded, probs.max(-1).values.numpy(), atol=6e-6)  # the file keeps 5 digits
    with torch.autocast("cpu", dtype=torch.bfloat16):  # the check can tell the two precisions apart
        bf16 = torch.tensor(predict_logits(loaded, split_batches(loaded, test))).softmax(-1)
    assert np.abs(recorded - bf16.max(-1).values.numpy()).max() > 1.2e-5
