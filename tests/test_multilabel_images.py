"""Multi-label images (`image-multilabel`): label sets from metadata files, every method (full, LoRA, probe
with the feature cache, probe_unfreeze), thresholds applied by predict / evaluate, sigmoid test-time
averaging, LoRA reload in fieldtune and in plain peft, `export --merge`, and the `cargo_tags` builder."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from fieldtune.cli import main
from fieldtune.config import DataConfig, config_from_dict
from fieldtune.datasets_builders import build_dataset
from fieldtune.errors import DataError
from fieldtune.inference.load import load_for_inference, predict_logits
from fieldtune.inputs.prepare_images import image_batches_from_files
from fieldtune.targets import TARGETS
from fieldtune.training.run import run
from tests.helpers import without_fieldtune
from tests.test_train_vision import tiny_vision

BANDS = ("blue", "green", "red")  # a label is a coloured band across its third of the image


def write_tagged_images(root, n=60, seed=0, csv=False):
    """Images whose labels are learnable from the pixels: each label paints its own band."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        tags = [t for t in BANDS if rng.random() < 0.45]
        a = rng.integers(90, 160, size=(32, 32, 3), dtype=np.uint8)
        for k, t in enumerate(BANDS):
            if t in tags:
                a[k * 11 : k * 11 + 9] = 0
                a[k * 11 : k * 11 + 9, :, "rgb".index(t[0])] = 255  # a band of the label's colour
        Image.fromarray(a).save(root / f"img_{i:03d}.png")
        rows.append({"file_name": f"img_{i:03d}.png", "label": ";".join(tags) if csv else tags})
    if csv:
        pd.DataFrame(rows).to_csv(root / "metadata.csv", index=False)
    else:
        (root / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


@pytest.fixture(scope="session")
def tagged_folder(tmp_path_factory):
    return write_tagged_images(tmp_path_factory.mktemp("tagged") / "photos")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return {f: tiny_vision(tmp_path_factory.mktemp(f), f) for f in ("vit", "resnet")}


def tags_config(model_dir, folder, method_name="full", **extra):
    return config_from_dict(
        {
            "task": "image-multilabel", "name": "tags", "model": {"name_or_path": str(model_dir)},
            "data": {"builder": "image_folder", "path": str(folder), **extra.pop("data", {})},
            "method": {"name": method_name, "lora_r": 4, "trainable_layers": 1, "probe_epochs": 2,
                       "probe_learning_rate": 5e-3, **extra.pop("method", {})},
            "training": {"num_train_epochs": 4, "learning_rate": 5e-3, "per_device_train_batch_size": 8,
                         "seed": 0, **extra.pop("training", {})},
        }
    )  # fmt: skip


@pytest.fixture(scope="module")
def full_run(tiny, tagged_folder, tmp_path_factory):
    cfg = tags_config(
        tiny["vit"],
        tagged_folder,
        data={"augment": {"test_time": "flips"}},
        training={"class_weights": "balanced", "precision": "fp32"},  # predict runs in fp32 too
    )
    return run(cfg, output_dir=tmp_path_factory.mktemp("full") / "run")


@pytest.fixture(scope="module")
def lora_run(tiny, tagged_folder, tmp_path_factory):
    cfg = tags_config(
        tiny["vit"], tagged_folder, "lora", training={"learning_rate": 1e-2, "num_train_epochs": 1}
    )
    return run(cfg, output_dir=tmp_path_factory.mktemp("lora") / "run")


@pytest.mark.slow
def test_full_run_learns_label_sets_and_writes_the_run(full_run):
    d = full_run.run_dir
    results = json.loads((d / "eval_results.json").read_text())
    assert results["task"] == "image-multilabel" and results["primary_metric"] == "f1_macro"
    assert {"f1_micro", "f1_samples", "subset_accuracy", "hamming_loss", "mean_average_precision"} <= set(
        results["metrics"]
    )
    assert results["metrics"]["f1_macro"] > 0.6  # each label paints its own band
    assert set(results["metrics"]["per_class"]) == set(BANDS)
    config = json.loads((d / "model" / "config.json").read_text())
    assert config["problem_type"] == "multi_label_classification"
    assert [config["id2label"][str(i)] for i in range(3)] == list(BANDS)
    assert len(config["fieldtune_thresholds"]) == 3 and config["fieldtune_test_time"] == "flips"
    preds = pd.read_csv(d / "predictions.csv", keep_default_na=False)
    assert list(preds.columns) == ["file", "label", "predicted", "score_blue", "score_green", "score_red"]
    for name in ("label_scores.png", "samples.png", "learning_curves.png"):
        assert (d / "plots" / name).is_file(), name
    assert not (d / "plots" / "confusion_matrix.png").exists()
    card = (d / "README.md").read_text()
    assert 'pipeline("image-classification"' in card and "top_k=None" in card and "threshold" in card


@pytest.mark.slow
def test_predict_and_evaluate_apply_thresholds_and_views(full_run, tmp_path):
    """predict on the run's own test files gives the run's predictions (same thresholds, same flips)."""
    d = full_run.run_dir
    ours = pd.read_csv(d / "predictions.csv", keep_default_na=False).set_index("file")
    out = tmp_path / "p.csv"
    folder = str(ours.index[0]).rsplit("/", 1)[0]
    assert main(["predict", str(d), "--input", folder, "--output", str(out)]) == 0
    preds = pd.read_csv(out, keep_default_na=False).set_index("file")
    assert list(preds.columns) == ["labels", "score_blue", "score_green", "score_red", "error"]
    assert len(preds) == 60 and (preds["error"] == "").all()
    mine = preds.loc[ours.index]
    assert (mine["labels"] == ours["predicted"]).all()
    np.testing.assert_allclose(
        mine[["score_blue", "score_red"]], ours[["score_blue", "score_red"]], atol=2e-4
    )
    fresh = write_tagged_images(tmp_path / "fresh", n=30, seed=5, csv=True)
    assert main(["evaluate", str(d), "--data", str(fresh), "--output", str(tmp_path / "e.json")]) == 0
    scored = json.loads((tmp_path / "e.json").read_text())
    assert scored["num_test_examples"] == 30 and scored["metrics"]["f1_macro"] > 0.5


@pytest.mark.slow
def test_lora_reloads_in_plain_peft_and_merges(lora_run, tiny, tmp_path):
    d = lora_run.run_dir
    adapter = json.loads((d / "model" / "adapter_config.json").read_text())
    assert adapter["modules_to_save"] == ["classifier"]
    files = sorted(pd.read_csv(d / "predictions.csv")["file"])[:6]
    loaded = load_for_inference(d)
    ours = predict_logits(loaded, image_batches_from_files(loaded, files))
    batch = next(image_batches_from_files(loaded, files))
    np.save(tmp_path / "pixels.npy", batch["pixel_values"].numpy())
    assert main(["export", str(d), "--merge", "--out", str(tmp_path / "merged")]) == 0
    from transformers import AutoModelForImageClassification

    merged = AutoModelForImageClassification.from_pretrained(tmp_path / "merged").eval()
    with torch.no_grad():
        np.testing.assert_allclose(merged(**batch).logits.numpy(), ours, atol=1e-4)
    # One process that never imports fieldtune: the adapter in plain peft, and the merged model in a
    # plain pipeline (every label's sigmoid score, under its real name).
    plain = without_fieldtune(
        d / "model", {"pixels": str(tmp_path / "pixels.npy"), "files": files[:1]}, tmp_path / "merged"
    )
    np.testing.assert_allclose(np.asarray(plain["peft_logits"]), ours, atol=1e-5)
    scores = {o["label"]: o["score"] for o in plain["pipeline"][0]}
    assert set(scores) == set(BANDS)
    np.testing.assert_allclose([scores[n] for n in loaded.label_names], 1 / (1 + np.exp(-ours[0])), atol=1e-3)


@pytest.mark.slow
def test_feature_cached_probe_trains_the_head_with_bce_and_positive_weights(tiny, tagged_folder, tmp_path):
    """Cached features and training through the frozen backbone give the same head: both use BCE with the
    label sets' positive weights (class_weights: balanced), not softmax cross-entropy."""
    from safetensors.torch import load_file

    heads = {}
    for cached in (True, False):
        cfg = tags_config(
            tiny["vit"], tagged_folder, "probe",
            data={"augment": {"random_resized_crop": False, "horizontal_flip": False}},
            method={"feature_cache": cached},
            training={"class_weights": "balanced", "precision": "fp32", "num_train_epochs": 1},
        )  # fmt: skip
        result = run(cfg, output_dir=tmp_path / f"probe-{cached}")
        heads[cached] = load_file(result.run_dir / "model" / "model.safetensors")["classifier.weight"]
    torch.testing.assert_close(heads[True], heads[False], atol=1e-4, rtol=1e-3)
    original = load_file(tiny["vit"] / "model.safetensors")
    assert heads[True].shape == (3, original["classifier.weight"].shape[1])


def test_head_model_loss_is_bce_for_label_sets():
    from fieldtune.trainers.vision import FeatureDataset, HeadModel

    head = torch.nn.Linear(4, 3)
    data = FeatureDataset(torch.randn(2, 4), [[0, 2], []], num_labels=3, targets=TARGETS["tags"])
    assert data[0]["labels"].tolist() == [1.0, 0.0, 1.0] and data[1]["labels"].tolist() == [0.0] * 3
    batch = {"features": data.features, "labels": data.labels}
    out = HeadModel(head, 3)(**batch)
    expected = torch.nn.functional.binary_cross_entropy_with_logits(head(data.features), data.labels)
    torch.testing.assert_close(out.loss, expected)


@pytest.mark.slow
def test_probe_unfreeze_on_a_cnn(tiny, tagged_folder, tmp_path):
    cfg = tags_config(
        tiny["resnet"],
        tagged_folder,
        "probe_unfreeze",
        method={"probe_epochs": 1},
        training={"num_train_epochs": 1},
    )
    result = run(cfg, output_dir=tmp_path / "run")
    assert (result.run_dir / "checkpoints" / "phase1_head.pt").is_file()
    assert result.results["trainable_params"] > 3 * 16 + 3  # the top stage joined the head in phase 2
    assert set(result.results["thresholds"]) == set(BANDS)


def test_test_time_views_average_sigmoids_for_label_sets():
    from fieldtune.inputs.test_time import averaged_logits, views

    torch.manual_seed(0)
    weight = torch.randn(3, 2 * 4 * 4)

    def forward(px):
        return px.flatten(1) @ weight.T * 3

    px = torch.randn(5, 2, 4, 4)
    out = averaged_logits(forward, px, "dihedral", targets=TARGETS["tags"])
    expected = torch.stack([forward(v).sigmoid() for v in views(px, "dihedral")]).mean(0)
    torch.testing.assert_close(out.sigmoid(), expected)
    assert not torch.allclose(out.softmax(-1).sum(-1), out.sigmoid().sum(-1))  # not a softmax average


def test_metadata_csv_with_delimited_labels_and_untagged_rows(tmp_path, caplog):
    folder = write_tagged_images(tmp_path / "photos", n=40, csv=True)
    untagged = (pd.read_csv(folder / "metadata.csv", keep_default_na=False)["label"] == "").sum()
    assert untagged > 0
    with caplog.at_level("WARNING"):
        dd = build_dataset(DataConfig(builder="image_folder", path=str(folder)), "image-multilabel")
    assert dd["train"].features["label"].feature.names == list(BANDS)
    assert sum(len(s) for s in dd.values()) == 40
    assert f"{untagged} rows have no label" in caplog.text
    row = dd["train"][0]
    stored = pd.read_csv(folder / "metadata.csv", keep_default_na=False).set_index("file_name")
    name = dd["train"].cast_column("image", type(dd["train"].features["image"])(decode=False))[0]["image"]
    expected = stored.loc[name["path"].rsplit("/", 1)[-1], "label"]
    assert ";".join(BANDS[i] for i in row["label"]) == expected


def test_cargo_tags_is_deterministic_and_tagged(tmp_path):
    from fieldtune.datasets_builders.cargo_tags import MARKS

    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        assert main(["data", "cargo_tags", "--out", str(out), "--num-samples", "12", "--seed", "3"]) == 0
    files = sorted(p.relative_to(a) for p in a.rglob("*.png"))
    assert len(files) == 12 and all((a / f).read_bytes() == (b / f).read_bytes() for f in files)
    assert (a / "metadata.jsonl").read_text() == (b / "metadata.jsonl").read_text()
    dd = build_dataset(DataConfig(builder="cargo_tags", num_samples=40, seed=0), "image-multilabel")
    assert dd["train"].features["label"].feature.names == list(MARKS)
    counts = np.bincount([i for s in dd.values() for ids in s["label"] for i in ids], minlength=4)
    assert (counts > 5).all()  # every mark occurs
    with pytest.raises(DataError, match="image-multilabel"):
        build_dataset(DataConfig(builder="cargo_tags", num_samples=40, seed=0), "image-classification")


def test_a_threshold_sits_midway_when_validation_separates_a_label():
    """Perfectly separated validation scores: the threshold keeps the margin on both sides (in logit
    space), so a test positive a little below the lowest validation positive is still predicted."""
    from fieldtune.targets.thresholds import tune_thresholds

    refs = np.array([[1], [1], [1], [0], [0], [0]])
    scores = np.array([[0.97], [0.99], [0.995], [0.02], [0.1], [0.03]])
    (threshold,) = tune_thresholds(scores, refs)
    logit = np.log(np.array([0.97, 0.1, threshold]) / (1 - np.array([0.97, 0.1, threshold])))
    assert abs(logit[2] - (logit[0] + logit[1]) / 2) < 1e-3 and 0.1 < threshold < 0.9
