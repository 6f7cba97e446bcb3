"""Training augmentation on image tensors (no torchvision): crops, flips, 90° rotations, colour jitter.

Every draw comes from the generator passed in, so a seeded stream gives the same augmentations.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from fieldtune.config import AugmentConfig


def _uniform(g: torch.Generator, low: float, high: float, n: int = 1) -> torch.Tensor:
    return torch.rand(n, generator=g) * (high - low) + low


def _random_resized_crop(x: torch.Tensor, scale_min: float, g: torch.Generator) -> torch.Tensor:
    """Random area in [scale_min, 1] and aspect in [3/4, 4/3], resized back to the input size."""
    _, h, w = x.shape
    for _ in range(10):
        target = h * w * float(_uniform(g, min(1.0, scale_min), 1.0))
        ratio = math.exp(float(_uniform(g, math.log(3 / 4), math.log(4 / 3))))
        cw, ch = round(math.sqrt(target * ratio)), round(math.sqrt(target / ratio))
        if 0 < cw <= w and 0 < ch <= h:
            i = int(torch.randint(0, h - ch + 1, (1,), generator=g))
            j = int(torch.randint(0, w - cw + 1, (1,), generator=g))
            crop = x[None, :, i : i + ch, j : j + cw]
            return F.interpolate(crop, size=(h, w), mode="bilinear", align_corners=False)[0]
    return x  # no valid box in 10 tries (extreme settings): keep the whole image


def augment_batch(images: list[torch.Tensor], aug: AugmentConfig, g: torch.Generator) -> torch.Tensor:
    """Per-sample random resized crop, then batch-wide flips, 90° rotations and colour jitter (0-255 floats)."""
    if aug.random_resized_crop:
        x = torch.stack([_random_resized_crop(im, aug.crop_scale_min, g) for im in images])
    else:
        x = torch.stack(images)
    n = x.shape[0]
    if aug.horizontal_flip:
        flip = torch.rand(n, generator=g) < 0.5
        x[flip] = x[flip].flip(-1)
    if aug.vertical_flip:
        flip = torch.rand(n, generator=g) < 0.5
        x[flip] = x[flip].flip(-2)
    if aug.rotate90:
        turns = torch.randint(0, 4, (n,), generator=g)
        for k in (1, 2, 3):
            pick = turns == k
            if pick.any():
                x[pick] = torch.rot90(x[pick], k, dims=(-2, -1))
    if aug.color_jitter > 0:
        s = aug.color_jitter
        factors = _uniform(g, max(0.0, 1.0 - s), 1.0 + s, 3 * n).view(3, n, 1, 1, 1)
        brightness, contrast, saturation = factors.unbind(0)
        weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
        x = x * brightness
        grey = (x * weights).sum(1, keepdim=True)
        mean = grey.mean((2, 3), keepdim=True)
        x = (x - grey) * saturation + grey  # saturation around each pixel's grey
        x = (x - mean) * contrast + mean  # contrast around the image's mean grey
        x = x.clamp_(0.0, 255.0)
    return x
