"""Texture augmentation keys (`data.augment.gamma_jitter`, `data.augment.random_erasing`): each changes
what it should and nothing else, and a seeded stream repeats it."""

from __future__ import annotations

import torch

from fieldtune.config import AugmentConfig
from fieldtune.inputs.augmentation import augment_batch

ONLY = dict(random_resized_crop=False, horizontal_flip=False)  # every other augmentation off


def _greys(n: int = 6, side: int = 32) -> list[torch.Tensor]:
    """Greyscale-as-RGB images (three equal channels) with black, white and every tone between."""
    ramp = torch.linspace(0.0, 255.0, side * side).view(1, side, side).expand(3, side, side)
    return [ramp.roll(17 * k, dims=-1).clone() for k in range(n)]


def _run(aug: AugmentConfig, images: list[torch.Tensor], seed: int = 0) -> torch.Tensor:
    return augment_batch([im.clone() for im in images], aug, torch.Generator().manual_seed(seed))


def test_off_by_default_is_identity() -> None:
    images = _greys()
    assert torch.equal(_run(AugmentConfig(**ONLY), images), torch.stack(images))


def test_gamma_jitter_moves_midtones_keeps_black_white_and_order() -> None:
    images = _greys()
    out = _run(AugmentConfig(**ONLY, gamma_jitter=0.5), images)
    src = torch.stack(images)
    black, white = src == 0.0, src == 255.0
    assert torch.allclose(out[black], src[black]) and torch.allclose(out[white], src[white])
    mid = (src > 60) & (src < 200)
    assert (out[mid] - src[mid]).abs().max() > 5.0  # mid-tones moved
    for k in range(len(images)):  # a monotone curve: brighter pixels stay brighter
        order = src[k, 0].flatten().argsort()
        assert (out[k, 0].flatten()[order].diff() >= -1e-3).all()
    # one gamma per image, within [1/(1+s), 1+s]: log(out/255) / log(src/255) is that gamma
    px = (src > 10) & (src < 245)
    gammas = torch.stack([(out[k][px[k]] / 255).log().div((src[k][px[k]] / 255).log()) for k in range(6)])
    per_image = gammas.median(1).values
    assert torch.allclose(gammas, per_image[:, None].expand_as(gammas), atol=1e-3)
    assert (per_image >= 1 / 1.5 - 1e-4).all() and (per_image <= 1.5 + 1e-4).all()
    assert per_image.std() > 0.01  # drawn per image, not once per batch
    assert torch.equal(_run(AugmentConfig(**ONLY, gamma_jitter=0.5), images), out)  # seeded


def test_random_erasing_replaces_one_rectangle_with_grey_noise() -> None:
    images = _greys(8)
    src = torch.stack(images)
    out = _run(AugmentConfig(**ONLY, random_erasing=1.0), images)
    for k in range(len(images)):
        changed = (out[k] != src[k]).any(0)
        rows, cols = changed.any(1).nonzero().flatten(), changed.any(0).nonzero().flatten()
        assert len(rows) and len(cols)
        box = (slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1))
        outside = torch.ones_like(changed)
        outside[box] = False
        assert torch.equal(out[k][:, outside], src[k][:, outside])  # only the rectangle changed
        area = changed[box].numel() / changed.numel()
        assert 0.02 - 0.01 <= area <= 1 / 3 + 0.05
        assert torch.equal(out[k, 0], out[k, 1]) and torch.equal(out[k, 0], out[k, 2])  # still grey
        assert out[k].min() >= 0 and out[k].max() <= 255
    assert torch.equal(_run(AugmentConfig(**ONLY, random_erasing=0.0), images), src)


def test_random_erasing_probability_is_per_image() -> None:
    images = _greys(200, side=16)
    src = torch.stack(images)
    out = _run(AugmentConfig(**ONLY, random_erasing=0.25), images, seed=3)
    erased = (out != src).flatten(1).any(1).float().mean()
    assert 0.15 < float(erased) < 0.35
