"""BatchNorm layers ported with TensorFlow's decay as PyTorch momentum are repaired before training."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from fieldtune.config import MethodConfig, ModelConfig
from fieldtune.modeling.create import BATCHNORM_MOMENTUM, create_model
from fieldtune.tasks.table import TASKS
from tests.test_train_vision import tiny_vision


def _momenta(model: nn.Module) -> set[float]:
    return {m.momentum for m in model.modules() if isinstance(m, nn.BatchNorm2d)}


def test_mobilenet_running_stats_stop_following_the_last_batch(tmp_path):
    from transformers import MobileNetV2ForImageClassification

    folder = tiny_vision(tmp_path / "mnv2", "mobilenet")
    assert _momenta(MobileNetV2ForImageClassification.from_pretrained(folder)) == {0.997}  # the upstream port
    model, _ = create_model(
        ModelConfig(name_or_path=str(folder)), TASKS["image-classification"], ["a", "b"], MethodConfig()
    )
    assert _momenta(model) == {BATCHNORM_MOMENTUM}
    # the effect: one training batch moves the running mean 1% of the way to the batch mean, not 99.7%
    bn = next(m for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    before = bn.running_mean.clone()
    seen = []
    bn.register_forward_hook(lambda mod, args, out: seen.append(args[0].detach().mean(dim=(0, 2, 3))))
    model.train()
    model(pixel_values=torch.randn(4, 3, 32, 32) * 5 + 3)
    expected = (1 - BATCHNORM_MOMENTUM) * before + BATCHNORM_MOMENTUM * seen[0]
    torch.testing.assert_close(bn.running_mean, expected, atol=1e-5, rtol=1e-4)


def test_standard_batchnorm_is_left_alone(tmp_path):
    folder = tiny_vision(tmp_path / "resnet", "resnet")
    model, _ = create_model(
        ModelConfig(name_or_path=str(folder)), TASKS["image-classification"], ["a", "b"], MethodConfig()
    )
    assert _momenta(model) == {0.1}  # PyTorch's default, as the ResNet port builds it


def _tiny_resnet(tmp_path):
    from transformers import ResNetForImageClassification

    return ResNetForImageClassification.from_pretrained(tiny_vision(tmp_path / "resnet", "resnet"))


def test_precise_bn_gives_trainable_layers_the_statistics_of_the_batches(tmp_path):
    from fieldtune.trainers.precise_bn import recalibrate_batchnorm

    model = _tiny_resnet(tmp_path)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    first, frozen = bns[0], bns[-1]
    for p in frozen.parameters():
        p.requires_grad = False
    frozen_before = frozen.running_mean.clone()
    seen: list[torch.Tensor] = []
    first.register_forward_hook(lambda mod, args, out: seen.append(args[0].detach()))
    torch.manual_seed(0)
    batches = [{"pixel_values": torch.randn(4, 3, 32, 32) * 3 + 2} for _ in range(3)]
    model.train()
    n = recalibrate_batchnorm(model, batches, lambda b: model(**b))

    assert n == len(bns) - 1  # every trainable BatchNorm, not the frozen one
    inputs = torch.cat(seen)
    torch.testing.assert_close(first.running_mean, inputs.mean(dim=(0, 2, 3)), atol=1e-5, rtol=1e-4)
    per_batch_var = torch.stack([x.var(dim=(0, 2, 3), unbiased=True) for x in seen])
    torch.testing.assert_close(first.running_var, per_batch_var.mean(0), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(frozen.running_mean, frozen_before)
    assert model.training and first.momentum == 0.1  # the model is left as it was found


def test_precise_bn_without_batches_keeps_the_statistics(tmp_path):
    from fieldtune.trainers.precise_bn import recalibrate_batchnorm

    model = _tiny_resnet(tmp_path)
    bn = next(m for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    bn.running_mean.fill_(0.5)
    assert recalibrate_batchnorm(model, [], lambda b: model(**b)) == 0
    assert torch.all(bn.running_mean == 0.5)


def _saved_minus_recomputed(model_dir, tmp_path, precise_bn: int, **training) -> float:
    """Train a tiny ResNet; how far the saved BatchNorm statistics are from those of the saved weights."""
    from transformers import ResNetForImageClassification

    from fieldtune.datasets_builders import build_dataset
    from fieldtune.inputs.prepare import prepare_inputs
    from fieldtune.trainers.precise_bn import calibration_sample, recalibrate_batchnorm
    from fieldtune.training.run import run
    from tests.test_train_vision import vision_config

    config = vision_config(model_dir, training={"precision": "fp32", "precise_bn": precise_bn, **training})
    result = run(config, output_dir=tmp_path / f"run{precise_bn}{'-'.join(training)}")
    saved = ResNetForImageClassification.from_pretrained(result.run_dir / "model")
    stats = {k: v.clone() for k, v in saved.state_dict().items() if "running" in k}

    prepared = prepare_inputs(TASKS["image-classification"], build_dataset(config.data, config.task), config)
    sample = calibration_sample(prepared.dataset["train"], 2048, config.training.seed)
    collate = prepared.eval_collator
    size = config.training.per_device_eval_batch_size
    batches = [
        collate([sample[j] for j in range(i, min(i + size, len(sample)))])
        for i in range(0, len(sample), size)
    ]
    recalibrate_batchnorm(saved, batches, lambda b: saved(pixel_values=b["pixel_values"]))
    return max((saved.state_dict()[k] - v).abs().max().item() for k, v in stats.items())


@pytest.mark.slow
def test_saved_model_carries_the_statistics_of_its_weights(tmp_path):
    model_dir = tiny_vision(tmp_path / "resnet", "resnet")
    assert _saved_minus_recomputed(model_dir, tmp_path, precise_bn=2048) < 1e-4
    assert _saved_minus_recomputed(model_dir, tmp_path, precise_bn=0) > 1e-2  # running averages lag


@pytest.mark.slow
def test_averaged_weights_get_their_own_statistics(tmp_path):
    """Weight averaging swaps new weights in after the last evaluation: precise BN runs after the swap."""
    model_dir = tiny_vision(tmp_path / "resnet", "resnet")
    averaging = {"weight_averaging": {"start": 0.0, "every_steps": 1}}
    assert _saved_minus_recomputed(model_dir, tmp_path, precise_bn=2048, **averaging) < 1e-4
