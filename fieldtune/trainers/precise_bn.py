"""Precise BatchNorm: recompute BatchNorm statistics for the current weights before they are used.

During training a BatchNorm layer's running statistics are an exponential average over past batches,
computed with past weights: they lag the weights early on and follow the last batches' class mix. A
forward pass over a fixed sample of training images with the current weights gives each trainable
BatchNorm layer the true mean / variance of its input (Wu & Johnson, "Rethinking 'Batch' in BatchNorm",
2021). Frozen BatchNorm layers keep their statistics, as a frozen backbone should.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


def trainable_batchnorms(model: nn.Module) -> list[_BatchNorm]:
    """BatchNorm layers with running statistics whose affine parameters train."""
    return [
        m
        for m in model.modules()
        if isinstance(m, _BatchNorm)
        and m.track_running_stats
        and any(p.requires_grad for p in m.parameters(recurse=False))
    ]


def calibration_sample(dataset: Any, size: int, seed: int) -> Any:
    """The fixed random sample of up to `size` training rows that the statistics are computed on."""
    return dataset.shuffle(seed=seed).select(range(min(size, len(dataset))))


@torch.no_grad()
def recalibrate_batchnorm(
    model: nn.Module,
    batches: Iterable[dict[str, Any]],
    forward: Callable[[dict[str, Any]], Any],
    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
) -> int:
    """Reset the trainable BatchNorm layers' statistics and average them, equally weighted, over `batches`
    (the rest of the model in eval mode). Returns the number of layers recalibrated (0: nothing to do)."""
    layers = trainable_batchnorms(model)
    if not layers:
        return 0
    momenta = [m.momentum for m in layers]
    before = [{k: v.clone() for k, v in m.state_dict().items()} for m in layers]
    seen = 0
    was_training = model.training
    model.eval()
    for m in layers:
        m.reset_running_stats()
        m.momentum = None  # cumulative average: every batch counts the same
        m.train()
    try:
        for batch in batches:
            with autocast():
                forward(batch)
            seen += 1
    finally:
        for m, momentum, state in zip(layers, momenta, before, strict=True):
            m.momentum = momentum
            if not seen:  # nothing passed through (or it failed): the old statistics stay
                m.load_state_dict(state)
        model.train(was_training)
    return len(layers) if seen else 0
