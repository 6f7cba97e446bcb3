"""Test-time augmentation for images: average the class probabilities of symmetric views of each image.

Thin sections, core trays and top-down cargo photos have no "up": the model is trained on flipped and
rotated copies, and averaging its view of each flip / rotation at test time removes the orientation
noise of a single view (lithology, MobileNetV2: 0.833 -> 0.849 with the four flips). The mode is stored
in the saved model's config.json (`fieldtune_test_time`) so `fieldtune predict` / `evaluate` apply it as
training's evaluation did; plain transformers ignores the key and predicts one view.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

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
) -> torch.Tensor:
    """log of the mean softmax over the views: argmax and softmax give the averaged prediction."""
    batch = views(pixel_values, mode)
    if len(batch) == 1:
        return identity_logits if identity_logits is not None else forward(pixel_values)
    first = identity_logits if identity_logits is not None else forward(batch[0])
    probs = first.float().softmax(-1)
    for view in batch[1:]:
        probs += forward(view).float().softmax(-1)
    return (probs / len(batch)).log()


def mode_of(model: torch.nn.Module) -> str:
    """The mode a trained model was evaluated with (none for models fieldtune did not train)."""
    mode = getattr(getattr(model, "config", None), CONFIG_KEY, None)
    return mode if mode in MODES else "none"
