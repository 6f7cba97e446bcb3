"""Pooled features of a frozen backbone, cached on disk per image so that every probe on the same
backbone and eval transform (the trials of a sweep, a re-run, the K folds of a cross-validation, whose
train and validation rows overlap) extracts the features of an image once.

The key of the cache folder hashes what decides the features and nothing else: every backbone tensor
(parameters and buffers, the head's excluded: its initialisation differs per seed, and it is not part of
the features), the eval transform (the collator's spec) and the autocast precision. Inside it, each image
is known by a hash of its decoded pixels (the pixel cache's rows: data + image spec), so a fold finds the
rows another fold extracted whatever split they were in. Files: `$FIELDTUNE_CACHE/features/<key>/<shard>.pt`,
each `{"rows": [pixel hash, ...], "features": tensor}`, written atomically by the run that extracted them.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
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


def feature_key(backbone: str, collator: Any, precision: str) -> str:
    """The cache folder of one backbone, eval transform and precision."""
    parts = [FEATURES_VERSION, backbone, repr(getattr(collator, "spec", None)), precision]
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:32]


ROW_INPUTS = ("pixel_values", "input_ids", "token_type_ids")  # what the frozen backbone sees of a row


def row_keys(dataset: Any, batch_size: int = 256) -> list[str]:
    """A hash of each row's model inputs: an image's decoded pixels (`pixel_values`), a text's token ids."""
    keys: list[str] = []
    for start in range(0, len(dataset), batch_size):
        batch = dataset[start : start + batch_size]
        columns = [batch[c] for c in ROW_INPUTS if c in batch]
        for row in zip(*columns, strict=True):
            h = hashlib.blake2b(digest_size=16)
            for value in row:
                h.update(np.ascontiguousarray(value).tobytes())
            keys.append(h.hexdigest())
    return keys


def cache_dir() -> Path:
    from fieldtune.datasets_builders.synthetic_images import cache_root

    return cache_root() / "features"


def _known(folder: Path, what: str) -> dict[str, torch.Tensor]:
    """Every cached row of `folder`: {pixel hash: features}; a damaged shard is dropped (extracted again)."""
    known: dict[str, torch.Tensor] = {}
    for shard in sorted(folder.glob("*.pt")) if folder.is_dir() else []:
        try:
            saved = torch.load(shard, weights_only=True)
            known |= dict(zip(saved["rows"], saved["features"], strict=True))
        except Exception:  # truncated, not a tensor file: its rows are extracted again
            logger.warning("%s: the feature cache %s cannot be read; extracting its rows again", what, shard)
            shard.unlink(missing_ok=True)
    return known


def _lock(folder: Path) -> Any:
    """The cache folder's lock, held: processes sharing it (the fold workers of `train --cv K --workers N`)
    extract one after the other, each only the rows no other has; None where it cannot be taken (read-only)."""
    from filelock import FileLock

    try:
        folder.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(folder / ".lock"))
        lock.acquire()
        return lock
    except OSError:
        return None


def cached_features(
    key: str, rows: list[str], compute: Callable[[list[int]], torch.Tensor], what: str
) -> torch.Tensor:
    """The features of `rows` (pixel hashes, in order): those no earlier run cached are computed by
    `compute(indices)` (one index per distinct missing row, ascending) and written as a new shard."""
    folder = cache_dir() / key
    lock = _lock(folder)
    try:
        known = _known(folder, what)
        first: dict[str, int] = {}
        for i, row in enumerate(rows):
            if row not in known:
                first.setdefault(row, i)
        if not first:
            logger.info("%s: reading cached features from %s", what, folder)
        else:
            if known:
                logger.info("%s: %d of %d rows cached in %s", what, len(rows) - len(first), len(rows), folder)
            new = sorted(first, key=first.get)
            known |= dict(zip(new, _store(folder, new, compute(sorted(first.values())), what), strict=True))
    finally:
        if lock is not None:
            lock.release()
    return torch.stack([known[row] for row in rows]) if rows else torch.empty(0)


def _store(folder: Path, rows: list[str], features: torch.Tensor, what: str) -> torch.Tensor:
    """Write freshly extracted `features` of `rows` as one shard of `folder`; returns them."""
    from fieldtune.rundir.layout import atomic_write_bytes

    buffer = io.BytesIO()
    torch.save({"rows": rows, "features": features}, buffer)
    shard = hashlib.sha256("\n".join(rows).encode()).hexdigest()[:32]
    try:
        atomic_write_bytes(folder / f"{shard}.pt", buffer.getvalue())
    except Exception as e:  # a full or read-only cache never fails the run: the features are in memory
        logger.warning("%s: cannot write the feature cache %s (%s)", what, folder, e)
    return features
