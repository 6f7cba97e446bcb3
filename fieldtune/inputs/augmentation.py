"""Training augmentation on image tensors (no torchvision): crops, flips, 90° rotations, colour and gamma
jitter, random erasing.

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


def _gamma(x: torch.Tensor, strength: float, g: torch.Generator) -> torch.Tensor:
    """Per-image gamma, log-uniform in [1/(1+s), 1+s]: 0 and 255 stay, the mid-tones move (exposure)."""
    bound = math.log1p(strength)
    gamma = torch.exp(_uniform(g, -bound, bound, x.shape[0])).view(-1, 1, 1, 1)
    return (x.clamp(0.0, 255.0) / 255.0).pow(gamma).mul_(255.0)


def _erase(x: torch.Tensor, p: float, g: torch.Generator) -> torch.Tensor:
    """timm's RandomErasing ("pixel" mode), on 0-255 images: with probability p, one rectangle of 2-33% of
    the area (aspect 0.3-3.3) becomes noise with the image's per-channel mean and std, the same noise in
    every channel (a greyscale image stays grey)."""
    n, _, h, w = x.shape
    pick = (torch.rand(n, generator=g) < p).tolist()
    for k in (k for k, chosen in enumerate(pick) if chosen):
        for _ in range(10):
            area = h * w * float(_uniform(g, 0.02, 1 / 3))
            ratio = math.exp(float(_uniform(g, math.log(0.3), math.log(1 / 0.3))))
            eh, ew = round(math.sqrt(area / ratio)), round(math.sqrt(area * ratio))
            if 0 < eh < h and 0 < ew < w:
                i = int(torch.randint(0, h - eh + 1, (1,), generator=g))
                j = int(torch.randint(0, w - ew + 1, (1,), generator=g))
                mean, std = x[k].mean((1, 2), keepdim=True), x[k].std((1, 2), keepdim=True)
                noise = torch.randn(1, eh, ew, generator=g)
                x[k, :, i : i + eh, j : j + ew] = (mean + std * noise).clamp_(0.0, 255.0)
                break
    return x


def augment_batch(images: list[torch.Tensor], aug: AugmentConfig, g: torch.Generator) -> torch.Tensor:
    """Per-sample random resized crop, then flips, 90° rotations, colour and gamma jitter, and random erasing
    last (on the final pixels, as timm does), on 0-255 floats."""
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
    if aug.gamma_jitter > 0:
        x = _gamma(x, aug.gamma_jitter, g)
    if aug.random_erasing > 0:
        x = _erase(x, aug.random_erasing, g)
    return x
