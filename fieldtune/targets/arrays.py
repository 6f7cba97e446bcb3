"""Array helpers every kind of target shares: logits as float32 arrays, softmax, sigmoid and its inverse."""

from __future__ import annotations

from typing import Any

import numpy as np


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def sigmoid(logits: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-logits))


def logit(p: Any) -> Any:
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return np.log(p / (1 - p))


def as_array(logits: Any) -> np.ndarray:
    if isinstance(logits, tuple):
        logits = logits[0]
    return np.asarray(logits, dtype=np.float32)
