"""Mixup and CutMix (`training.mixup_alpha`, `training.cutmix_alpha`): training images mixed in pairs.

- Mixup (Zhang et al., 2018, "mixup: Beyond Empirical Risk Minimization"): x = lam x_i + (1 - lam) x_j.
- CutMix (Yun et al., 2019, "CutMix: Regularization Strategy to Train Strong Classifiers with Localizable
  Features"): a rectangle of x_j pasted into x_i; lam is the share of x_i's pixels left.

lam ~ Beta(alpha, alpha); the partner j of each image is a random permutation of the batch. The loss is
lam L(y_i) + (1 - lam) L(y_j) for classes (class weights and label smoothing apply to both terms) and the
BCE against lam y_i + (1 - lam) y_j for label sets. With both keys set, each batch takes one of the two
at random (timm's `switch_prob` 0.5). The draws use torch's generator, which the Trainer seeds, so a run
is repeatable. Mixing happens on the collated, normalised batch, after the per-image augmentation, and
only while training: evaluation, precise BatchNorm and predict see plain images.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from fieldtune.trainers.losses import target_loss


@dataclass(frozen=True)
class BatchMix:
    mixup_alpha: float = 0.0
    cutmix_alpha: float = 0.0

    @property
    def enabled(self) -> bool:
        return self.mixup_alpha > 0 or self.cutmix_alpha > 0

    def __call__(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, float]:
        """(mixed batch, the partner index of each image, lam: the weight of each image's own label)."""
        partner = torch.randperm(pixels.shape[0], device=pixels.device)
        cutmix = self.cutmix_alpha > 0 and (self.mixup_alpha <= 0 or torch.rand(()).item() < 0.5)
        alpha = self.cutmix_alpha if cutmix else self.mixup_alpha
        lam = float(torch.distributions.Beta(alpha, alpha).sample())
        if not cutmix:
            return pixels * lam + pixels[partner] * (1.0 - lam), partner, lam
        (y0, y1), (x0, x1) = _cut_box(pixels.shape[-2:], lam)
        mixed = pixels.clone()
        mixed[..., y0:y1, x0:x1] = pixels[partner][..., y0:y1, x0:x1]
        height, width = pixels.shape[-2:]
        return mixed, partner, 1.0 - (y1 - y0) * (x1 - x0) / (height * width)  # lam of the box as cut


def _cut_box(size: torch.Size, lam: float) -> tuple[tuple[int, int], tuple[int, int]]:
    """A box of about (1 - lam) of the image around a uniform random centre, clipped at the borders."""
    side = math.sqrt(1.0 - lam)
    box = []
    for extent in size:
        half = int(extent * side) // 2
        centre = int(torch.randint(extent, ()).item())
        box.append((max(centre - half, 0), min(centre + half, extent)))
    return box[0], box[1]


def mixed_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    weight: torch.Tensor | None = None,
    smoothing: float = 0.0,
    partner: torch.Tensor | None = None,
    lam: float = 1.0,
) -> torch.Tensor:
    """The loss of a mixed batch: both labels weighted by lam (classes), or mixed targets (label sets);
    without a partner, the plain `target_loss`."""
    if partner is None:
        return target_loss(logits, labels, weight, smoothing)
    if labels.dtype.is_floating_point and labels.shape == logits.shape:  # tags
        return target_loss(logits, lam * labels + (1.0 - lam) * labels[partner], weight, smoothing)
    own = target_loss(logits, labels, weight, smoothing)
    return lam * own + (1.0 - lam) * target_loss(logits, labels[partner], weight, smoothing)
