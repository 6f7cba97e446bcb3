"""A batch's labels as the loss takes them, for every collator (text, images, cached features)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch


def label_tensor(
    labels: Sequence[Any], num_labels: int | None = None, dtype: torch.dtype = torch.long
) -> torch.Tensor:
    """Label-id lists (a label set per example, `Sequence(ClassLabel)`) -> a multi-hot float matrix (BCE
    with logits); class ids or numbers -> a tensor of `dtype` (long for classes, float32 for regression).

    Example:
        >>> label_tensor([[0, 2], []], num_labels=3)
        tensor([[1., 0., 1.],
                [0., 0., 0.]])
    """
    if len(labels) and isinstance(labels[0], (list, tuple, np.ndarray)):
        multi_hot = torch.zeros(len(labels), num_labels or 0)
        for i, ids in enumerate(labels):
            multi_hot[i, list(ids)] = 1.0
        return multi_hot
    return torch.as_tensor(np.asarray(labels), dtype=dtype)
