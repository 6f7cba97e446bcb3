"""BatchNorm layers ported with TensorFlow's decay as PyTorch momentum are repaired before training."""

from __future__ import annotations

import torch
from torch import nn

from fieldtune.config import MethodConfig, ModelConfig
from fieldtune.models import BATCHNORM_MOMENTUM, create_model
from fieldtune.tasks import TASKS
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
