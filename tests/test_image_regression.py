"""`task: image-regression`: a number per image read from metadata.csv / .jsonl (e.g. a grain size in µm),
trained on standardised targets whose scale is folded back into the head, so every reader of the saved
model (predict, evaluate, the leaderboard, ONNX, plain transformers) gets real units. Tiny models, generated
images whose brightness sets the number."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from fieldtune.cli import main
from fieldtune.config import DataConfig, config_from_dict
from fieldtune.datasets_builders import build_dataset
from fieldtune.inputs.test_time import averaged_logits, views
from fieldtune.targets import TARGETS
from fieldtune.tasks.table import get_task
from tests.test_train_vision import tiny_vision

MEAN_SIZE = 120.0  # far from 0: a prediction still in standardised units would be ~0 and obvious


def write_sized_images(root, n=40, seed=0, jsonl=False):
    """Grey images whose brightness grows with the number (a grain size in µm, 80-160)."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        size = float(rng.uniform(80, 160))
        level = int(40 + (size - 80) * 2)
        a = np.clip(rng.normal(level, 8, size=(32, 32, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(a).save(root / f"core_{i:03d}.png")
        rows.append({"file_name": f"core_{i:03d}.png", "label": round(size, 3)})
    if jsonl:
        (root / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        pd.DataFrame(rows).to_csv(root / "metadata.csv", index=False)
    return root


def regression_config(model_dir, folder, method_name="full", **extra):
    return config_from_dict(
        {
            "task": "image-regression", "name": "grain", "model": {"name_or_path": str(model_dir)},
            "data": {"builder": "image_folder", "path": str(folder), "seed": 0, **extra.pop("data", {})},
            "method": {"name": method_name, "probe_epochs": 1, "probe_learning_rate": 5e-3,
                       **extra.pop("method", {})},
            "training": {"num_train_epochs": 1, "max_steps": 2, "learning_rate": 5e-3,
                         "per_device_train_batch_size": 8, "seed": 0, "precision": "fp32",
                         **extra.pop("training", {})},
        }
    )  # fmt: skip


def test_the_task_is_a_row_with_values_targets():
    task = get_task("image-regression")
    assert task.modality == "image" and task.targets is TARGETS["values"]
    assert task.problem_type == "regression" and task.primary_metric == "rmse" and not task.greater_is_better


@pytest.mark.parametrize("jsonl", [False, True])
def test_numbers_are_read_from_the_metadata_file(tmp_path, jsonl):
    folder = write_sized_images(tmp_path / "cores", n=20, jsonl=jsonl)
    dd = build_dataset(DataConfig(builder="image_folder", path=str(folder), seed=0), "image-regression")
    assert dd["train"].features["label"].dtype == "float32"
    written = (
        pd.read_json(folder / "metadata.jsonl", lines=True) if jsonl else pd.read_csv(folder / "metadata.csv")
    )
    got = sorted(v for split in dd.values() for v in split["label"])
    np.testing.assert_allclose(got, sorted(written["label"]), rtol=1e-6)


def test_test_time_views_average_numbers_as_numbers():
    torch.manual_seed(0)
    weight = torch.randn(1, 2 * 4 * 4)

    def forward(px):
        return px.flatten(1) @ weight.T + MEAN_SIZE

    px = torch.randn(5, 2, 4, 4)
    out = averaged_logits(forward, px, "dihedral", targets=TARGETS["values"])
    expected = torch.stack([forward(v) for v in views(px, "dihedral")]).mean(0)
    torch.testing.assert_close(out, expected)  # the mean value: no softmax over a single output


def test_the_feature_head_loss_is_mse_for_numbers():
    from fieldtune.trainers.vision import FeatureDataset, HeadModel

    head = torch.nn.Linear(4, 1)
    data = FeatureDataset(torch.randn(3, 4), [0.5, -1.0, 2.0], num_labels=1, targets=TARGETS["values"])
    assert data.labels.dtype == torch.float32
    out = HeadModel(head, 1)(features=data.features, labels=data.labels)
    expected = torch.nn.functional.mse_loss(head(data.features).view(-1), data.labels)
    torch.testing.assert_close(out.loss, expected)


@pytest.fixture(scope="module")
def vit(tmp_path_factory):
    return tiny_vision(tmp_path_factory.mktemp("vit"), "vit")


@pytest.fixture(scope="module")
def grain_run(vit, tmp_path_factory):
    from fieldtune.training.run import run

    folder = write_sized_images(tmp_path_factory.mktemp("grain") / "cores")
    cfg = regression_config(vit, folder, training={"mixup_alpha": 0.4})  # mixed targets: MSE to both
    result = run(cfg, output_dir=tmp_path_factory.mktemp("runs") / "grain")
    return result, folder


@pytest.mark.slow
def test_a_run_reports_regression_metrics_in_real_units(grain_run):
    result, _ = grain_run
    metrics = result.results["metrics"]
    assert {"rmse", "mae", "r2"} <= set(metrics) and "accuracy" not in metrics
    preds = pd.read_csv(result.run_dir / "predictions.csv")
    assert abs(preds["label"].mean() - MEAN_SIZE) < 25  # references in µm
    assert abs(preds["predicted"].mean() - MEAN_SIZE) < 60  # predictions too, not standardised (~0)
    assert (result.run_dir / "plots" / "predicted_vs_true.png").is_file()


@pytest.mark.slow
def test_plain_transformers_predicts_the_number_and_so_do_predict_and_evaluate(grain_run, tmp_path):
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    result, folder = grain_run
    model_dir = result.run_dir / "model"
    processor = AutoImageProcessor.from_pretrained(model_dir)
    model = AutoModelForImageClassification.from_pretrained(model_dir).eval()
    files = sorted(folder.glob("*.png"))[:4]
    with torch.no_grad():
        pixels = processor([Image.open(f).convert("RGB") for f in files], return_tensors="pt")
        plain = model(**pixels).logits[:, 0].numpy()
    assert model.config.problem_type == "regression" and abs(plain.mean() - MEAN_SIZE) < 60

    photos = tmp_path / "photos"
    photos.mkdir()
    for f in files:
        shutil.copy(f, photos / f.name)
    out = tmp_path / "p.csv"
    assert main(["predict", str(result.run_dir), "--input", str(photos), "--output", str(out)]) == 0
    predicted = pd.read_csv(out)
    assert len(predicted) == len(files)
    np.testing.assert_allclose(predicted["value"], plain, atol=1e-3)  # files in name order, as `files`

    report = tmp_path / "e.json"
    assert main(["evaluate", str(result.run_dir), "--output", str(report)]) == 0
    evaluated = json.loads(report.read_text())["metrics"]
    assert evaluated["rmse"] == pytest.approx(result.results["metrics"]["rmse"], rel=1e-4)


@pytest.mark.slow
def test_onnx_export_and_the_leaderboard(grain_run, tmp_path, capsys):
    result, folder = grain_run
    out = tmp_path / "onnx"
    assert main(["export", str(result.run_dir), "--format", "onnx", "--out", str(out)]) == 0
    export = json.loads((out / "export_report.json").read_text())
    assert export["parity"]["max_abs_diff"] <= 1e-3 and "rmse" in export["metrics"]["fp32"]
    assert "values = logits[:, 0]" in (out / "README.md").read_text()
    capsys.readouterr()
    assert main(["leaderboard", str(result.run_dir), str(out)]) == 0
    board = capsys.readouterr().out
    assert "rmse" in board and "grain" in board


@pytest.mark.slow
def test_the_feature_cached_probe_trains_on_numbers(tmp_path):
    from fieldtune.training.run import run

    resnet = tiny_vision(tmp_path / "resnet", "resnet")
    folder = write_sized_images(tmp_path / "cores", n=24, seed=1)
    result = run(regression_config(resnet, folder, "probe"), output_dir=tmp_path / "probe")
    assert {"rmse", "mae", "r2"} <= set(result.results["metrics"])
    assert abs(pd.read_csv(result.run_dir / "predictions.csv")["predicted"].mean() - MEAN_SIZE) < 60
