"""Mixup and CutMix (`training.mixup_alpha`, `training.cutmix_alpha`, issue 18): what each does to a batch
and to the loss, that only training batches are mixed, and that a recipe's keys reach a real image run."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn
from transformers import TrainingArguments

from fieldtune.config import config_from_dict
from fieldtune.trainers.base import FieldTrainer
from fieldtune.trainers.mixing import BatchMix

PIXELS = torch.arange(4 * 3 * 8 * 8, dtype=torch.float32).reshape(4, 3, 8, 8) / 100
CLASSES = torch.tensor([0, 2, 1, 2])


class _Pooled(nn.Module):
    """Logits from the mean of each channel: the loss of a known batch, and the pixels it saw."""

    def __init__(self):
        super().__init__()
        self.head = nn.Linear(3, 3)
        self.seen: list[torch.Tensor] = []

    def forward(self, pixel_values, labels=None):
        self.seen.append(pixel_values.detach().clone())
        return {"logits": self.head(pixel_values.mean(dim=(2, 3)))}


def _trainer(tmp_path, model: nn.Module, **options) -> FieldTrainer:
    args = TrainingArguments(output_dir=str(tmp_path / "out"), use_cpu=True, report_to="none")
    return FieldTrainer(model=model, args=args, **options)


def test_mixup_blends_each_image_with_its_partner():
    torch.manual_seed(0)
    mixed, partner, lam = BatchMix(mixup_alpha=0.4)(PIXELS)
    assert sorted(partner.tolist()) == [0, 1, 2, 3] and partner.tolist() != [0, 1, 2, 3]
    assert 0 < lam < 1
    torch.testing.assert_close(mixed, lam * PIXELS + (1 - lam) * PIXELS[partner])


def test_cutmix_pastes_one_rectangle_of_the_partner_and_lam_is_the_area_kept():
    for seed in range(5):
        torch.manual_seed(seed)
        mixed, partner, lam = BatchMix(cutmix_alpha=1.0)(PIXELS)
        changed = (mixed != PIXELS).any(dim=(0, 1))  # one (height, width) mask for the whole batch
        rows, cols = changed.any(dim=1).nonzero().flatten(), changed.any(dim=0).nonzero().flatten()
        if changed.any():  # a box: every pixel between its first and last row and column is pasted
            assert changed[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1].all()
        torch.testing.assert_close(mixed[..., changed], PIXELS[partner][..., changed])
        torch.testing.assert_close(mixed[..., ~changed], PIXELS[..., ~changed])
        assert lam == pytest.approx(1 - changed.float().mean().item())


def test_both_keys_switch_between_mixup_and_cutmix_per_batch():
    kinds = set()
    for seed in range(20):
        torch.manual_seed(seed)
        mixed, partner, _ = BatchMix(mixup_alpha=0.4, cutmix_alpha=1.0)(PIXELS)
        share = (mixed != PIXELS).float().mean().item()
        kinds.add("mixup" if share > 0.99 else "cutmix")  # a blend changes every pixel, a box only some
    assert kinds == {"mixup", "cutmix"}


@pytest.mark.parametrize("weights", [None, torch.tensor([1.0, 3.0, 0.5])])
def test_the_loss_weighs_both_labels_by_lam_and_evaluation_is_not_mixed(tmp_path, weights):
    model = _Pooled().train()
    trainer = _trainer(
        tmp_path, model, mix=BatchMix(mixup_alpha=0.4), class_weights=weights, label_smoothing=0.1
    )
    torch.manual_seed(3)
    got = trainer.compute_loss(model, {"pixel_values": PIXELS, "labels": CLASSES}).item()
    torch.manual_seed(3)
    _, partner, lam = BatchMix(mixup_alpha=0.4)(PIXELS)  # the same draws, by hand
    logits = model.head(model.seen[-1].mean(dim=(2, 3)))

    def ce(y):
        return nn.functional.cross_entropy(logits, y, weight=weights, label_smoothing=0.1)

    assert got == pytest.approx((lam * ce(CLASSES) + (1 - lam) * ce(CLASSES[partner])).item(), rel=1e-5)
    assert not torch.equal(model.seen[-1], PIXELS)
    model.eval()
    plain = trainer.compute_loss(model, {"pixel_values": PIXELS, "labels": CLASSES}).item()
    assert torch.equal(model.seen[-1], PIXELS)
    assert plain == pytest.approx(ce_plain(model, weights), rel=1e-5)


def ce_plain(model: _Pooled, weights) -> float:
    logits = model.head(PIXELS.mean(dim=(2, 3)))
    return nn.functional.cross_entropy(logits, CLASSES, weight=weights, label_smoothing=0.1).item()


def test_label_sets_train_on_the_mixed_targets(tmp_path):
    tags = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0], [1.0, 1.0, 0.0], [0.0, 1.0, 0.0]])
    model = _Pooled().train()
    trainer = _trainer(tmp_path, model, mix=BatchMix(cutmix_alpha=1.0))
    torch.manual_seed(5)
    got = trainer.compute_loss(model, {"pixel_values": PIXELS, "labels": tags}).item()
    torch.manual_seed(5)
    _, partner, lam = BatchMix(cutmix_alpha=1.0)(PIXELS)
    target = lam * tags + (1 - lam) * tags[partner]
    logits = model.head(model.seen[-1].mean(dim=(2, 3)))
    expected = nn.functional.binary_cross_entropy_with_logits(logits, target).item()
    assert got == pytest.approx(expected, rel=1e-5)


def test_recipe_keys_mix_the_training_steps_of_an_image_run(tmp_path, monkeypatch):
    from fieldtune.trainers import mixing
    from fieldtune.training.run import run
    from tests.test_train_vision import tiny_vision, vision_config

    options = FieldTrainer.run_options(
        config_from_dict(
            {
                "task": "image-classification",
                "model": {"name_or_path": "m"},
                "training": {"mixup_alpha": 0.2, "cutmix_alpha": 1},
            }
        ),
        None,
    )
    assert options["mix"] == BatchMix(mixup_alpha=0.2, cutmix_alpha=1.0)
    calls: list[tuple[int, bool]] = []
    call = mixing.BatchMix.__call__

    def spy(self, pixels):
        calls.append((pixels.shape[0], torch.is_grad_enabled()))
        return call(self, pixels)

    monkeypatch.setattr(mixing.BatchMix, "__call__", spy)
    config = vision_config(tiny_vision(tmp_path / "vit", "vit"), training={"cutmix_alpha": 1.0})
    result = run(config, output_dir=tmp_path / "run")
    last = max((result.run_dir / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    state = json.loads((last / "trainer_state.json").read_text())
    assert len(calls) == state["global_step"] > 0  # one mix per training step (batches of 16)
    assert all(grad and size <= 16 for size, grad in calls)  # evaluation and precise BatchNorm: plain
