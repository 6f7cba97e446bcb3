"""Test-time augmentation for images: average the predictions of symmetric views of each image.

The task's `Targets` says what is averaged: one class per image, the softmax of each view (log of the mean
is returned, so argmax and softmax read the average); a label set per image, each label's sigmoid on its
own (the logit of that mean is returned, so the saved per-label thresholds, tuned on these averaged
scores, compare with a probability, as they do for one view); a number per image, the values themselves.

Thin sections, core trays and top-down cargo photos have no "up": the model is trained on flipped and
rotated copies, and averaging its view of each flip / rotation at test time removes the orientation
noise of a single view (lithology, MobileNetV2: 0.833 -> 0.849 with the four flips). The mode is stored
in the saved model's config.json (`fieldtune_test_time`) so `fieldtune predict` / `evaluate` apply it as
training's evaluation did; plain transformers ignores the key and predicts one view.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from fieldtune.targets import TARGETS, Targets

MODES = ("none", "flips", "dihedral")
CONFIG_KEY = "fieldtune_test_time"


def views(pixel_values: torch.Tensor, mode: str) -> list[torch.Tensor]:
    """The identity first, then flips (4 views) and, for square inputs, their transposes (8: all of D4)."""
    if mode == "none":
        return [pixel_values]
    flips = [pixel_values, pixel_values.flip(-1), pixel_values.flip(-2), pixel_values.flip(-1, -2)]
    square = pixel_values.shape[-1] == pixel_values.shape[-2]
    if mode == "flips" or not square:  # a transposed non-square image would not fit the model's input
        return flips
    return flips + [v.transpose(-1, -2) for v in flips]


@torch.no_grad()
def averaged_logits(
    forward: Callable[[torch.Tensor], torch.Tensor],
    pixel_values: torch.Tensor,
    mode: str,
    identity_logits: torch.Tensor | None = None,
    targets: Targets = TARGETS["classes"],
) -> torch.Tensor:
    """The views' mean as `targets` averages them, as logits again: log of the mean softmax (classes:
    argmax and softmax give the averaged prediction), the logit of each label's mean sigmoid (tags), the
    mean value (numbers)."""
    batch = views(pixel_values, mode)
    if len(batch) == 1:
        return identity_logits if identity_logits is not None else forward(pixel_values)
    first = identity_logits if identity_logits is not None else forward(batch[0])
    total = targets.view_scores(first)
    for view in batch[1:]:
        total = total + targets.view_scores(forward(view))
    return targets.view_logits(total / len(batch))


def mode_of(model: torch.nn.Module) -> str:
    """The mode a trained model was evaluated with (none for models fieldtune did not train)."""
    mode = getattr(getattr(model, "config", None), CONFIG_KEY, None)
    return mode if mode in MODES else "none"
