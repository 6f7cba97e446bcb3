"""Image classification end to end on tiny random ViT / ResNet / MobileNetV2 with generated images."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from fieldtune.config import config_from_dict
from fieldtune.inference.load import load_for_inference, predict_logits
from fieldtune.inputs.prepare_images import image_batches_from_files, image_files
from fieldtune.training.run import run

pytestmark = pytest.mark.slow


def tiny_vision(folder, family):
    from transformers import (
        MobileNetV2Config,
        MobileNetV2ForImageClassification,
        MobileNetV2ImageProcessor,
        ResNetConfig,
        ResNetForImageClassification,
        ViTConfig,
        ViTForImageClassification,
        ViTImageProcessor,
    )

    torch.manual_seed(0)
    if family == "vit":
        model = ViTForImageClassification(
            ViTConfig(
                hidden_size=32,
                num_hidden_layers=2,
                num_attention_heads=2,
                intermediate_size=64,
                image_size=32,
                patch_size=8,
            )
        )
        processor = ViTImageProcessor(size={"height": 32, "width": 32})
    elif family == "resnet":
        model = ResNetForImageClassification(
            ResNetConfig(
                embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic", num_labels=2
            )
        )
        processor = ViTImageProcessor(size={"height": 32, "width": 32})
    else:
        model = MobileNetV2ForImageClassification(
            MobileNetV2Config(depth_multiplier=0.25, image_size=32, num_labels=2)
        )
        processor = MobileNetV2ImageProcessor(
            size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
        )
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def backbones(tmp_path_factory):
    return {f: tiny_vision(tmp_path_factory.mktemp(f), f) for f in ("vit", "resnet", "mobilenet")}


def vision_config(model_dir, method_name="full", **extra):
    data = {"builder": "geology_images", "num_samples": 96, "seed": 0, **extra.pop("data", {})}
    method_cfg = {
        "name": method_name,
        "lora_r": 4,
        "trainable_layers": 1,
        "probe_epochs": 2,
        "probe_learning_rate": 5e-3,
        **extra.pop("method", {}),
    }
    training = {
        "num_train_epochs": 2,
        "learning_rate": 2e-3,
        "per_device_train_batch_size": 16,
        "seed": 0,
        **extra.pop("training", {}),
    }
    return config_from_dict({"task": "image-classification", "name": "v", "model": {"name_or_path": str(model_dir), **extra.pop("model", {})},
                             "data": data, "method": method_cfg, "training": training})  # fmt: skip


@pytest.mark.parametrize(
    ("family", "method"),
    [
        ("vit", "full"),
        ("resnet", "full"),
        ("mobilenet", "full"),
        ("vit", "probe_unfreeze"),
        ("resnet", "freeze"),
    ],
)
def test_train_writes_run_directory(backbones, family, method, tmp_path):
    result = run(vision_config(backbones[family], method), output_dir=tmp_path / "run")
    d = result.run_dir
    for name in (
        "plots/confusion_matrix.png",
        "plots/learning_curves.png",
        "plots/samples.png",
        "predictions.csv",
        "README.md",
        "model/preprocessor_config.json",
    ):
        assert (d / name).is_file(), name
    results = json.loads((d / "eval_results.json").read_text())
    assert results["task"] == "image-classification" and results["dataset"] == "geology_images"
    preds = pd.read_csv(d / "predictions.csv")
    assert (
        list(preds.columns[:3]) == ["file", "label", "predicted"] and preds["file"].str.endswith(".png").all()
    )
    config = json.loads((d / "model" / "config.json").read_text())
    assert set(config["id2label"].values()) == {"granite", "limestone_fossil", "sandstone", "shale"}


def test_probe_unfreeze_phase_two_trains_top_blocks(backbones, tmp_path):
    result = run(vision_config(backbones["vit"], "probe_unfreeze"), output_dir=tmp_path / "run")
    log = json.loads((tmp_path / "run" / "checkpoints").joinpath("..", "eval_results.json").read_text())
    assert log["trainable_params"] > 4 * 32  # more than the head: the top block joined in phase 2
    assert (tmp_path / "run" / "checkpoints" / "phase1_head.pt").is_file()
    assert result.results["method"] == "probe_unfreeze"


@pytest.mark.parametrize("family", ["vit", "resnet"])
def test_lora_reload_and_merge_parity(backbones, family, tmp_path):
    from peft import PeftModel
    from transformers import AutoConfig, AutoModelForImageClassification

    from fieldtune.cli import main

    result = run(
        vision_config(backbones[family], "lora", training={"learning_rate": 1e-2}),
        output_dir=tmp_path / "run",
    )
    adapter = json.loads((result.run_dir / "model" / "adapter_config.json").read_text())
    assert adapter["modules_to_save"] == ["classifier"]
    assert not any(t.startswith("classifier") for t in adapter["target_modules"])
    if family == "resnet":
        assert any("convolution" in t for t in adapter["target_modules"])  # peft's Conv2d LoRA
    files = (
        image_files(str(result.run_dir.parent / "run" / "plots"))[:0]
        or sorted(pd.read_csv(result.run_dir / "predictions.csv")["file"])[:6]
    )
    loaded = load_for_inference(result.run_dir)
    ours = predict_logits(loaded, image_batches_from_files(loaded, files))
    # plain transformers + peft, no fieldtune
    config = AutoConfig.from_pretrained(result.run_dir / "model")
    base = AutoModelForImageClassification.from_pretrained(
        backbones[family], config=config, ignore_mismatched_sizes=True
    )
    plain = PeftModel.from_pretrained(base, result.run_dir / "model").eval()
    batch = next(image_batches_from_files(loaded, files))
    with torch.no_grad():
        np.testing.assert_allclose(plain(**batch).logits.numpy(), ours, atol=1e-5)
    assert main(["export", str(result.run_dir), "--merge", "--out", str(tmp_path / "merged")]) == 0
    merged = AutoModelForImageClassification.from_pretrained(tmp_path / "merged").eval()
    with torch.no_grad():
        np.testing.assert_allclose(merged(**batch).logits.numpy(), ours, atol=1e-4)


def test_feature_cached_probe_matches_frozen_end_to_end(backbones, tmp_path):
    """Same data, seed and order, no augmentation: caching the frozen backbone's features changes nothing.
    In fp32: under bf16 the backbone's rounding depends on the batch shape (cache pass vs training batches)."""
    no_aug = {"augment": {"random_resized_crop": False, "horizontal_flip": False}}
    heads = {}
    for cached in (True, False):
        cfg = vision_config(
            backbones["vit"],
            "probe",
            data=no_aug,
            method={"feature_cache": cached},
            training={"learning_rate": 5e-3, "precision": "fp32"},
        )
        result = run(cfg, output_dir=tmp_path / f"probe-{cached}")
        from safetensors.torch import load_file

        weights = load_file(result.run_dir / "model" / "model.safetensors")
        heads[cached] = (
            weights["classifier.weight"],
            weights["classifier.bias"],
            result.results["metrics"]["accuracy"],
        )
        # the backbone did not move
        original = load_file(backbones["vit"] / "model.safetensors")
        shared = [k for k in original if k in weights and not k.startswith("classifier")]
        assert shared and all(torch.equal(weights[k], original[k]) for k in shared)
    torch.testing.assert_close(heads[True][0], heads[False][0], atol=1e-4, rtol=1e-3)
    torch.testing.assert_close(heads[True][1], heads[False][1], atol=1e-4, rtol=1e-3)
    assert heads[True][2] == heads[False][2]


def test_every_backbone_pass_runs_in_the_runs_precision(backbones, tmp_path):
    """With `precision: bf16`, the cache's extraction pass is bf16 like training: it runs before accelerate
    prepares the model (which is where Trainer's autocast lives), so it must enter autocast itself. Only the
    report after training (test predictions) runs in fp32, as the saved model does when loaded."""
    passes = []

    def record(module, _inputs, output):
        if isinstance(module, torch.nn.Linear):
            passes.append((torch.is_autocast_enabled("cpu"), output.dtype))

    hook = torch.nn.modules.module.register_module_forward_hook(record)
    try:
        cfg = vision_config(
            backbones["vit"], "probe", data={"num_samples": 48}, training={"precision": "bf16"}
        )
        run(cfg, output_dir=tmp_path / "probe-bf16")
    finally:
        hook.remove()
    bf16 = [autocast and dtype == torch.bfloat16 for autocast, dtype in passes]
    report = bf16.index(False)  # the first fp32 pass: the report; every pass before it is bf16
    assert report > 0 and not any(bf16[report:]), passes
    assert all(dtype == torch.float32 for _, dtype in passes[report:])


def test_dataloader_workers_train_reproducibly(backbones, tmp_path):
    """On a GPU, auto gives worker processes: augmentation then runs in them, each seeded from the run's
    seed, so a rerun with the same seed trains the same model (here forced on the CPU: 2 workers)."""
    from safetensors.torch import load_file

    heads = []
    for attempt in range(2):
        cfg = vision_config(
            backbones["vit"],
            "full",
            data={"num_samples": 48},
            training={"num_train_epochs": 1, "precision": "fp32", "dataloader_num_workers": 2},
        )
        result = run(cfg, output_dir=tmp_path / f"workers-{attempt}")
        heads.append(load_file(result.run_dir / "model" / "model.safetensors")["classifier.weight"])
    torch.testing.assert_close(heads[0], heads[1])


def test_mlp_head_and_layerwise_lr(backbones, tmp_path):
    cfg = vision_config(
        backbones["resnet"],
        "full",
        model={"head": "mlp", "head_hidden_size": 16},
        training={"layerwise_lr_decay": 0.7, "class_weights": "balanced"},
    )
    result = run(cfg, output_dir=tmp_path / "run")
    loaded = load_for_inference(result.run_dir)
    assert isinstance(loaded.model.classifier[-1], torch.nn.Sequential)
    files = sorted(pd.read_csv(result.run_dir / "predictions.csv")["file"])
    preds = pd.read_csv(result.run_dir / "predictions.csv").set_index("file")
    logits = predict_logits(loaded, image_batches_from_files(loaded, files))
    assert [loaded.label_names[i] for i in logits.argmax(-1)] == preds.loc[files, "predicted"].tolist()


def test_predict_and_evaluate_on_image_folder(backbones, tmp_path):
    from fieldtune.cli import main
    from fieldtune.datasets_builders.geology_images import generate_geology_images

    result = run(vision_config(backbones["vit"]), output_dir=tmp_path / "run")
    folder = generate_geology_images(tmp_path / "photos", 24, seed=7)
    assert (
        main(
            [
                "predict",
                str(result.run_dir),
                "--input",
                str(folder),
                "--output",
                str(tmp_path / "p.csv"),
                "--top-k",
                "2",
            ]
        )
        == 0
    )
    preds = pd.read_csv(tmp_path / "p.csv")
    assert len(preds) == 24 and {"file", "label", "score", "label_2"} <= set(preds.columns)
    assert (
        main(
            [
                "evaluate",
                str(result.run_dir),
                "--data",
                str(folder),
                "--split",
                "all",
                "--output",
                str(tmp_path / "e.json"),
            ]
        )
        == 0
    )
    assert json.loads((tmp_path / "e.json").read_text())["metrics"]["accuracy"] >= 0
    code = f"from transformers import pipeline; out = pipeline('image-classification', model={str(result.run_dir / 'model')!r})({str(sorted(folder.rglob('*.png'))[0])!r}); assert out[0]['label'] in ('granite','limestone_fossil','sandstone','shale'), out"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_vit_at_another_input_size_runs_natively_after_saving(backbones, tmp_path):
    """data.image_size resamples ViT position embeddings once; the saved model and processor agree."""
    result = run(
        vision_config(backbones["vit"], data={"image_size": 16}, training={"max_steps": 2}),
        output_dir=tmp_path / "run",
    )
    config = json.loads((result.run_dir / "model" / "config.json").read_text())
    processor = json.loads((result.run_dir / "model" / "preprocessor_config.json").read_text())
    assert config["image_size"] == 16 and processor["size"] == {"height": 16, "width": 16}
    photo = sorted(pd.read_csv(result.run_dir / "predictions.csv")["file"])[0]
    code = f"from transformers import pipeline; out = pipeline('image-classification', model={str(result.run_dir / 'model')!r})({photo!r}); assert out[0]['label'] in ('granite','limestone_fossil','sandstone','shale')"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


@pytest.mark.parametrize("method", ["probe", "probe_unfreeze"])
def test_early_stopping_applies_to_the_feature_cached_head(backbones, tmp_path, method, monkeypatch):
    """The head trained on cached features (probe, phase 1 of probe_unfreeze) stops when validation
    stops improving: a learning rate too small to change the metric stops it after patience + 1 epochs."""
    from fieldtune.trainers.base import FieldTrainer
    from fieldtune.trainers.vision import HeadModel

    head_epochs = []
    original = FieldTrainer.train

    def train(self, *args, **kwargs):  # records how far the head-only trainer got
        out = original(self, *args, **kwargs)
        if isinstance(self.model, HeadModel):
            head_epochs.append(self.state.epoch)
        return out

    monkeypatch.setattr(FieldTrainer, "train", train)
    cfg = vision_config(
        backbones["vit"],
        method,
        method={"probe_epochs": 20, "probe_learning_rate": 1e-12},
        training={"num_train_epochs": 20 if method == "probe" else 1, "learning_rate": 1e-12,
                  "early_stopping_patience": 1},
    )  # fmt: skip
    result = run(cfg, output_dir=tmp_path / "run")
    assert head_epochs == [2.0]  # epoch 1 best, epoch 2 no better: stopped, not 20 epochs
    assert result.results["method"] == method


@pytest.mark.parametrize(
    ("family", "method", "views"), [("mobilenet", "full", "flips"), ("vit", "probe", "none")]
)
def test_bf16_run_reports_the_scores_of_its_saved_fp32_weights(backbones, tmp_path, family, method, views):
    """Trained under bf16 autocast (a probe: its head on cached features, predicted by the outer trainer):
    predictions.csv is what the saved model gives when loaded, in fp32."""
    from fieldtune.datasets_builders import build_dataset
    from fieldtune.inference.load import load_for_inference, predict_logits
    from fieldtune.inputs.prepare_images import image_batches

    cfg = vision_config(
        backbones[family], method, data={"augment": {"test_time": views}}, training={"precision": "bf16"}
    )
    result = run(cfg, output_dir=tmp_path / "run")
    loaded = load_for_inference(result.run_dir)
    test = build_dataset(cfg.data, cfg.task)["test"]
    probs = torch.tensor(predict_logits(loaded, image_batches(loaded, test))).softmax(-1)
    recorded = pd.read_csv(result.run_dir / "predictions.csv")["score"].to_numpy()
    np.testing.assert_allclose(recorded, probs.max(-1).values.numpy(), atol=6e-6)  # the file keeps 5 digits


def test_input_size_keeps_each_processors_resize_then_crop():
    """`data.image_size` on a processor that zooms (resize, then a smaller centre crop): the processor is set
    in its own terms, and what it now gives is the training spec, zoom included."""
    from transformers import BeitImageProcessor, ConvNextImageProcessor, MobileNetV2ImageProcessor

    from fieldtune.inputs.image_spec import resize_processor, resolve_image_spec

    cases = [
        (MobileNetV2ImageProcessor(size={"shortest_edge": 256}, crop_size={"height": 224, "width": 224}),
         {"shortest_edge": 329}),
        (BeitImageProcessor(size={"height": 256, "width": 256}, crop_size={"height": 224, "width": 224}, do_center_crop=True),
         {"height": 329, "width": 329}),
        (ConvNextImageProcessor(size={"shortest_edge": 224}, crop_pct=0.875), {"shortest_edge": 288}),
    ]  # fmt: skip
    for processor, size in cases:
        wanted = resolve_image_spec(processor, 288)
        assert (wanted.size, wanted.resize_size) == (288, 329)  # 288 * 256 / 224: the zoom is kept
        assert resize_processor(processor, wanted) == wanted
        saved = processor.to_dict()
        assert {k: v for k, v in saved["size"].items() if v} == size and resolve_image_spec(saved) == wanted


def test_cnn_at_another_input_size_scores_the_same_after_reloading(tmp_path):
    """A MobileNetV2 whose processor zooms (shortest edge 36, crop 32) trained at `data.image_size` 48: the
    saved processor resizes to 54 and crops 48 as training did, so a reload reproduces the test scores."""
    from transformers import MobileNetV2ImageProcessor

    from fieldtune.datasets_builders import build_dataset
    from fieldtune.inference.load import load_for_inference, predict_logits
    from fieldtune.inputs.prepare_images import image_batches

    folder = tiny_vision(tmp_path / "mobilenet", "mobilenet")
    MobileNetV2ImageProcessor(
        size={"shortest_edge": 36}, crop_size={"height": 32, "width": 32}
    ).save_pretrained(folder)
    cfg = vision_config(
        folder, data={"image_size": 48}, training={"num_train_epochs": 1, "precision": "fp32"}
    )
    result = run(cfg, output_dir=tmp_path / "run")
    processor = json.loads((result.run_dir / "model" / "preprocessor_config.json").read_text())
    assert processor["size"] == {"shortest_edge": 54} and processor["crop_size"] == {
        "height": 48,
        "width": 48,
    }
    loaded = load_for_inference(result.run_dir)
    test = build_dataset(cfg.data, cfg.task)["test"]
    probs = torch.tensor(predict_logits(loaded, image_batches(loaded, test))).softmax(-1)
    recorded = pd.read_csv(result.run_dir / "predictions.csv")["score"].to_numpy()
    np.testing.assert_allclose(recorded, probs.max(-1).values.numpy(), atol=6e-6)


def test_bf16_run_saves_batchnorm_statistics_of_its_fp32_weights(backbones, tmp_path):
    """Precise BatchNorm runs once more for the kept weights in their saved precision: model/'s running
    statistics are those an fp32 pass over the calibration sample gives, not a bf16 pass's."""
    from fieldtune.datasets_builders import build_dataset
    from fieldtune.inputs.prepare_images import prepare_images
    from fieldtune.tasks.table import get_task
    from fieldtune.trainers.precise_bn import calibration_sample, recalibrate_batchnorm, trainable_batchnorms

    cfg = vision_config(backbones["mobilenet"], training={"precision": "bf16", "precise_bn": 64})
    result = run(cfg, output_dir=tmp_path / "run")
    loaded = load_for_inference(result.run_dir)
    saved = [m.running_mean.clone() for m in trainable_batchnorms(loaded.model)]
    prepared = prepare_images(get_task(cfg.task), build_dataset(cfg.data, cfg.task), cfg)
    sample = calibration_sample(prepared.dataset["train"], 64, cfg.training.seed)

    def recomputed(autocast) -> list[torch.Tensor]:
        batches = torch.utils.data.DataLoader(sample, batch_size=64, collate_fn=prepared.eval_collator)
        recalibrate_batchnorm(
            loaded.model, batches, lambda b: loaded.model(pixel_values=b["pixel_values"]), autocast
        )
        return [m.running_mean.clone() for m in trainable_batchnorms(loaded.model)]

    for mine, fp32 in zip(saved, recomputed(contextlib.nullcontext), strict=True):
        torch.testing.assert_close(mine, fp32, rtol=1e-5, atol=1e-6)
    bf16 = recomputed(lambda: torch.autocast("cpu", dtype=torch.bfloat16))
    assert max((a - b).abs().max().item() for a, b in zip(saved, bf16, strict=True)) > 1e-4
