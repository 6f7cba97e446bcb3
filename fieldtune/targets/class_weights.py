"""`training.class_weights` -> one weight per class (or, for tags, one BCE positive weight per label)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from fieldtune.errors import ConfigError

if TYPE_CHECKING:
    import torch


# The balanced weights by name; `balanced_sqrt` takes their square root. A label with 2 positives in 800
# rows gets a BCE positive weight of 399 from `balanced` (its few examples then dominate the loss and the
# scores of every other label drift up: over-prediction), 20 from `balanced_sqrt`.
BALANCED = {"balanced": 1.0, "balanced_sqrt": 0.5}


def is_balanced(spec: Any) -> bool:
    """`spec` names one of the balanced weightings (a list or mapping of weights does not)."""
    return isinstance(spec, str) and spec in BALANCED


def class_weight_tensor(spec: Any, labels: list[int], label_names: list[str]) -> torch.Tensor | None:
    """'balanced' (n / (k * count)), 'balanced_sqrt' (its square root), a list, or {label: weight} -> one
    weight per class. For tags (label-id lists) the weights are BCE positive weights: 'balanced' is
    negatives / positives per label, 'balanced_sqrt' the square root of that."""
    if spec is None:
        return None
    import numpy as np
    import torch  # here, not at the top: config validation reads BALANCED without loading torch

    k = len(label_names)
    if is_balanced(spec) and labels and isinstance(labels[0], list):
        counts = np.bincount([i for ids in labels for i in ids], minlength=k).astype(float)
        weights = ((len(labels) - counts) / np.maximum(counts, 1.0)) ** BALANCED[spec]
    elif is_balanced(spec):
        counts = np.bincount(np.asarray(labels), minlength=k).astype(float)
        weights = (len(labels) / (k * np.maximum(counts, 1.0))) ** BALANCED[spec]
    elif isinstance(spec, list):
        if len(spec) != k:
            raise ConfigError(
                f"`training.class_weights` has {len(spec)} weights for {k} classes ({', '.join(label_names)})."
            )
        weights = spec
    else:
        unknown = sorted(set(spec) - set(label_names))
        if unknown:
            raise ConfigError(
                f"`training.class_weights` names unknown class {unknown[0]!r}; classes: {', '.join(label_names)}."
            )
        weights = [spec.get(name, 1.0) for name in label_names]
    try:
        values = [float(w) for w in weights]
    except (TypeError, ValueError):
        raise ConfigError("`training.class_weights` must hold numbers.") from None
    if any(not math.isfinite(w) or w <= 0 for w in values):
        raise ConfigError("`training.class_weights` must be positive finite numbers.")
    return torch.tensor(values, dtype=torch.float32)
