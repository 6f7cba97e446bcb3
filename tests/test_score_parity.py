"""The scores a run reports are the scores of what it saved: for every task x method (images at an input
size that is not the checkpoint's), `fieldtune evaluate RUN` on the saved model gives the run's metrics
and its predictions.csv, and so do the ONNX export and (LoRA) the merged export."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

from fieldtune.cli import main
from fieldtune.config import config_from_dict
from fieldtune.datasets_builders import build_dataset
from fieldtune.inference.evaluate import data_config_for, evaluate_model, model_references, split_of
from fieldtune.inference.load import load_for_inference, predict_logits, split_batches, thresholds_of
from fieldtune.modeling.methods import METHODS
from fieldtune.tasks.table import TASKS
from fieldtune.training.run import run
from tests.test_image_regression import write_sized_images
from tests.test_multilabel import vocab_words, write_tagged
from tests.test_multilabel_images import write_tagged_images
from tests.test_train_vision import tiny_vision

pytestmark = pytest.mark.slow

IMAGE_SIZE = 48  # the tiny ViT's checkpoint is 32 px: every image run resamples its position embeddings
CASES = [
    (task, method)
    for task, spec in TASKS.items()
    for method, m in METHODS.items()
    if spec.inputs in m.inputs
]


def test_every_task_and_method_has_a_case():
    """The cases come from the tables: a filter that matches nothing must fail here, not skip silently."""
    assert {t for t, _ in CASES} == set(TASKS) and {m for _, m in CASES} == set(METHODS)


@pytest.fixture(scope="module")
def vit(tmp_path_factory):
    """The tiny ViT, its position embeddings large enough that losing them changes every prediction."""
    from transformers import ViTForImageClassification

    folder = tiny_vision(tmp_path_factory.mktemp("vit"), "vit")
    model = ViTForImageClassification.from_pretrained(folder)
    with torch.no_grad():
        model.vit.embeddings.position_embeddings.normal_(0.0, 1.0, generator=torch.Generator().manual_seed(0))
    model.save_pretrained(folder)
    return folder


def config_for(task, method, tiny_bert, vit, data_root):
    sections = {
        "method": {"name": method, "lora_r": 4, "trainable_layers": 1, "probe_epochs": 1},
        "training": {"num_train_epochs": 1, "learning_rate": 5e-3, "per_device_train_batch_size": 16,
                     "seed": 0, "precision": "fp32"},
    }  # fmt: skip
    if task.startswith("text"):
        sections["model"] = {"name_or_path": str(tiny_bert), "max_length": 32}
        if task == "text-multilabel":
            notes = write_tagged(data_root / "notes.jsonl", vocab_words(tiny_bert), n=60)
            data = {
                "builder": "text_table",
                "path": str(notes),
                "text_columns": ["note"],
                "label_column": "tags",
            }
        else:
            data = {"builder": "logistics_demand", "num_samples": 60, "seed": 0}
            if task == "text-regression":
                data["label_column"] = "demand_quantity"
    else:
        sections["model"] = {"name_or_path": str(vit)}
        if task == "image-multilabel":
            data = {"builder": "image_folder", "path": str(write_tagged_images(data_root / "photos", n=40))}
        elif task == "image-regression":
            data = {"builder": "image_folder", "path": str(write_sized_images(data_root / "cores", n=40))}
        else:
            data = {"builder": "geology_images", "num_samples": 48, "seed": 0}
        data["image_size"] = IMAGE_SIZE
    return config_from_dict({"task": task, "name": "parity", "data": data, **sections})


def same_metrics(got: dict, reported: dict, where: str) -> None:
    """Every reported metric (per class too) is there and equal (regression: the trainer batches differently)."""
    for key, value in reported.items():
        assert key in got, f"{where}: {key} missing"
        if isinstance(value, dict):
            same_metrics(got[key], value, f"{where}.{key}")
        elif isinstance(value, float) and not math.isnan(value):
            assert got[key] == pytest.approx(value, rel=1e-4, abs=1e-4), f"{where}: {key}"


def the_test_split(loaded, run_dir):
    """The run's test split, built from its own data section as `fieldtune evaluate RUN` builds it."""
    return split_of(
        build_dataset(data_config_for(loaded, str(run_dir), None), loaded.task.name), "test", "run"
    )


def saved_columns(ref, run_dir) -> dict:
    """What the saved model (or an export of it, `ref`) predicts for the run's test split: the columns of
    predictions.csv, computed as `fieldtune evaluate` computes them."""
    loaded = load_for_inference(ref)
    test = the_test_split(loaded, run_dir)
    logits = predict_logits(loaded, split_batches(loaded, test))
    refs = model_references(loaded, test, "run")
    _, columns = loaded.task.targets.evaluate(logits, refs, loaded.label_names, thresholds_of(loaded))
    return columns


def same_predictions(columns: dict, recorded: pd.DataFrame, where: str) -> None:
    numeric = [
        c for c in recorded.columns if c.startswith("score") or (c == "predicted" and "score" not in recorded)
    ]
    numeric = [c for c in numeric if pd.api.types.is_numeric_dtype(recorded[c])]
    assert numeric, f"{where}: predictions.csv has no scores"
    for column in numeric:
        np.testing.assert_allclose(
            np.asarray(columns[column], dtype=float),
            recorded[column].to_numpy(),
            rtol=1e-4,
            atol=1e-4,
            err_msg=where,
        )
    if not pd.api.types.is_numeric_dtype(recorded["predicted"]):  # class names / label sets
        assert list(map(str, columns["predicted"])) == list(recorded["predicted"]), where


def plain_peft_reproduces(run_dir) -> None:
    """The adapter at 48 px also reloads in plain peft, as the model card says, with the run's scores: the
    resampled position embeddings travel in the adapter file."""
    from peft import AutoPeftModel
    from transformers import AutoConfig

    repo = run_dir / "model"
    config = AutoConfig.from_pretrained(repo)
    labels = {"num_labels": config.num_labels, "id2label": config.id2label, "label2id": config.label2id}
    plain = AutoPeftModel.from_pretrained(
        repo, **labels, image_size=config.image_size, ignore_mismatched_sizes=True
    ).eval()
    loaded = load_for_inference(run_dir)
    batch = next(iter(split_batches(loaded, the_test_split(loaded, run_dir))))
    with torch.no_grad():
        np.testing.assert_allclose(plain(pixel_values=batch["pixel_values"]).logits.numpy(),
                                   predict_logits(loaded, [batch]), atol=1e-5)  # fmt: skip


@pytest.mark.parametrize(("task", "method"), CASES, ids=[f"{t}-{m}" for t, m in CASES])
def test_reported_scores_are_those_of_the_saved_model(task, method, tiny_bert, vit, tmp_path):
    result = run(config_for(task, method, tiny_bert, vit, tmp_path), output_dir=tmp_path / "run")
    run_dir, reported = result.run_dir, result.results["metrics"]
    recorded = pd.read_csv(run_dir / "predictions.csv", keep_default_na=False, na_values=[])

    same_metrics(evaluate_model(str(run_dir), None, "test")["metrics"], reported, "evaluate")
    same_predictions(saved_columns(run_dir, run_dir), recorded, "saved model")
    if method == "lora" and task.startswith("image"):
        plain_peft_reproduces(run_dir)
    # the exports of the two saved forms (full weights; adapter + head): the other methods save full weights
    exports = {
        "full": {"onnx": ["--format", "onnx"]},
        "lora": {"onnx": ["--format", "onnx"], "merged": ["--merge"]},
    }
    for kind, flags in exports.get(method, {}).items():
        out = tmp_path / kind
        assert main(["export", str(run_dir), *flags, "--out", str(out)]) == 0
        loaded = load_for_inference(out)
        exported = evaluate_model(str(run_dir), None, "test", loaded=loaded)["metrics"]
        same_metrics(exported, reported, kind)
        same_predictions(saved_columns(out, run_dir), recorded, kind)
        if kind == "onnx":
            report = json.loads((out / "export_report.json").read_text())
            same_metrics(report["metrics"]["fp32"], reported, "onnx export report")
