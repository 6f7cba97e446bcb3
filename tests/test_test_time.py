"""Test-time augmentation: the views, their averaging, and that evaluation and predict agree."""

from __future__ import annotations

import json

import pytest
import torch

from fieldtune.inputs.test_time import averaged_logits, views


def test_views_are_the_flips_and_rotations_of_the_image():
    img = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).reshape(2, 3, 4, 4)
    assert [v.shape for v in views(img, "none")] == [img.shape]
    dihedral = views(img, "dihedral")
    assert len(dihedral) == 8 and torch.equal(dihedral[0], img)
    assert len({tuple(v.flatten().tolist()) for v in dihedral}) == 8  # eight distinct symmetries
    assert torch.equal(dihedral[5], img.flip(-1).transpose(-1, -2))  # = a 90 degree rotation
    assert any(torch.equal(v, torch.rot90(img, 1, (-2, -1))) for v in dihedral)
    assert len(views(img, "flips")) == 4
    assert len(views(torch.zeros(1, 3, 4, 6), "dihedral")) == 4  # a transposed 4x6 would not fit the model


def test_averaged_logits_average_probabilities_over_views():
    weight = torch.randn(3, 16)

    def forward(px):  # position-dependent: every view gives other logits
        return px.flatten(1) @ weight.T

    img = torch.randn(5, 1, 4, 4)
    expected = torch.stack([forward(v).softmax(-1) for v in views(img, "dihedral")]).mean(0)
    out = averaged_logits(forward, img, "dihedral")
    torch.testing.assert_close(out.softmax(-1), expected)
    torch.testing.assert_close(averaged_logits(forward, img, "none"), forward(img))
    # the identity view's logits may be passed in (the trainer has them already): same result
    torch.testing.assert_close(
        averaged_logits(forward, img, "flips", identity_logits=forward(img)),
        averaged_logits(forward, img, "flips"),
    )


@pytest.mark.slow
def test_evaluation_and_predict_average_the_same_views(tmp_path):
    """Training's test predictions, `fieldtune predict` and the saved model all use the dihedral views."""
    import numpy as np
    import pandas as pd

    from fieldtune.cli import main
    from fieldtune.datasets_builders import build_dataset
    from fieldtune.datasets_builders.geology_images import generate_geology_images
    from fieldtune.inference.load import load_for_inference, predict_logits
    from fieldtune.inputs.prepare_images import image_batches, image_batches_from_files, image_files
    from fieldtune.training.run import run
    from tests.test_train_vision import tiny_vision, vision_config

    cfg = vision_config(
        tiny_vision(tmp_path / "vit", "vit"),
        "lora",
        data={"augment": {"test_time": "dihedral"}},
        training={"num_train_epochs": 1, "precision": "fp32"},  # predict runs fp32: compare like with like
    )
    result = run(cfg, output_dir=tmp_path / "run")
    assert (
        json.loads((result.run_dir / "model" / "config.json").read_text())["fieldtune_test_time"]
        == "dihedral"
    )
    assert "test-time augmentation" in (result.run_dir / "README.md").read_text()

    loaded = load_for_inference(result.run_dir)  # an adapter: the mode comes from the folder's config.json

    def one_view(px):
        return loaded.model(pixel_values=px).logits

    # the run's test predictions are the averaged ones
    test = build_dataset(cfg.data, cfg.task)["test"]
    pixels = torch.cat([b["pixel_values"] for b in image_batches(loaded, test)])
    manual = averaged_logits(one_view, pixels, "dihedral").softmax(-1)
    recorded = pd.read_csv(result.run_dir / "predictions.csv")["score"].to_numpy()
    np.testing.assert_allclose(recorded, manual.max(-1).values.numpy(), atol=2e-5)
    with torch.no_grad():
        assert not torch.allclose(one_view(pixels).softmax(-1), manual, atol=1e-4)  # the views mattered

    # predict on new photos: the same averaging
    files = image_files(str(generate_geology_images(tmp_path / "photos", 8, seed=3)))
    expected = averaged_logits(
        one_view, torch.cat([b["pixel_values"] for b in image_batches_from_files(loaded, files)]), "dihedral"
    )
    np.testing.assert_allclose(
        predict_logits(loaded, image_batches_from_files(loaded, files)), expected.numpy(), atol=1e-5
    )
    out = tmp_path / "p.csv"
    assert (
        main(["predict", str(result.run_dir), "--input", str(tmp_path / "photos"), "--output", str(out)]) == 0
    )
    np.testing.assert_allclose(
        pd.read_csv(out)["score"].to_numpy(), expected.softmax(-1).max(-1).values.numpy(), atol=2e-5
    )

    # --test-time overrides the run's mode: none gives the single view
    assert (
        main(
            [
                "predict",
                str(result.run_dir),
                "--input",
                str(tmp_path / "photos"),
                "--output",
                str(out),
                "--test-time",
                "none",
                "--overwrite",  # the file of the first call is replaced
            ]
        )
        == 0
    )
    with torch.no_grad():
        single = one_view(torch.cat([b["pixel_values"] for b in image_batches_from_files(loaded, files)]))
    np.testing.assert_allclose(
        pd.read_csv(out)["score"].to_numpy(), single.softmax(-1).max(-1).values.numpy(), atol=2e-5
    )
    report = tmp_path / "e.json"
    assert main(["evaluate", str(result.run_dir), "--test-time", "flips", "--output", str(report)]) == 0
    assert json.loads(report.read_text())["test_time"] == "flips"
