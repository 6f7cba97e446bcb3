"""Pooled features of a frozen backbone, cached on disk so that every probe on the same backbone, data and
eval transform (the trials of a sweep, a re-run) extracts them once.

The key hashes what decides the features and nothing else: every backbone tensor (parameters and buffers,
the head's excluded: its initialisation differs per seed, and it is not part of the features), the decoded
split's fingerprint (the pixel cache key: data + image spec + file stats), the eval transform (the
collator's spec) and the autocast precision. Files: `$FIELDTUNE_CACHE/features/<key>.pt`.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

logger = logging.getLogger(__name__)

# Part of the key: bump when the extraction's output changes for the same inputs.
FEATURES_VERSION = 1


def backbone_digest(model: nn.Module, head_names: list[str]) -> str:
    """sha256 over the name, dtype, shape and bytes of every tensor outside the head (~1 s per 350 MB)."""
    h = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        if name.split(".", 1)[0] in head_names:
            continue
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}\0{t.dtype}\0{tuple(t.shape)}\0".encode())
        # reshape(-1): a 0-dim tensor (BatchNorm num_batches_tracked) cannot be viewed as bytes
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def feature_key(backbone: str, dataset: Any, collator: Any, precision: str) -> str:
    spec = getattr(collator, "spec", None)
    parts = [
        FEATURES_VERSION,
        backbone,
        getattr(dataset, "_fingerprint", None),
        repr(spec),
        precision,
        len(dataset),
    ]
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:32]


def cache_dir() -> Path:
    from fieldtune.datasets_builders.synthetic_images import cache_root

    return cache_root() / "features"


def cached_features(key: str, compute: Callable[[], torch.Tensor], what: str) -> torch.Tensor:
    """The features under `key`, computed (and written atomically) only when no earlier run left them."""
    from fieldtune.rundir.layout import atomic_write_bytes

    path = cache_dir() / f"{key}.pt"
    if path.is_file():
        try:
            features = torch.load(path, weights_only=True)
            logger.info("%s: reading cached features from %s", what, path)
            return features
        except Exception:  # a damaged file (truncated, not a tensor file): extract again and replace it
            logger.warning("%s: the feature cache %s cannot be read; extracting again", what, path)
    features = compute()
    buffer = io.BytesIO()
    torch.save(features, buffer)
    try:
        atomic_write_bytes(path, buffer.getvalue())
    except Exception as e:  # a full or read-only cache never fails the run: the features are in memory
        logger.warning("%s: cannot write the feature cache %s (%s)", what, path, e)
    return features
