"""Image preprocessing built for speed: decode and resize once (cached), augment per batch with torch ops.

```
DatasetDict(image, label) --decode_and_resize--> DatasetDict(pixel_values uint8 (3,S,S), label)   [once, on disk]
list of rows --make_image_collator--> {"pixel_values": float (B,3,S,S) channels_last, "labels": long (B,)}
```

Size, mean, std and resampling come from the checkpoint's image processor (`fieldtune.inputs.image_spec`), so
no task file hard-codes ImageNet statistics. No torchvision: PIL resizes once, torch ops augment.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
import os
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from datasets import Array3D, Dataset, DatasetDict
from datasets import Image as ImageFeature
from PIL import Image, ImageOps

from fieldtune import progress
from fieldtune.config import AugmentConfig
from fieldtune.datasets_builders.image_folder import to_rgb
from fieldtune.datasets_builders.synthetic_images import cache_root
from fieldtune.errors import DataError
from fieldtune.inputs.augmentation import augment_batch
from fieldtune.inputs.image_spec import ImageSpec
from fieldtune.targets import TARGETS, Targets

if TYPE_CHECKING:
    from fieldtune.datasets_builders.folds import FoldRows

logger = logging.getLogger(__name__)

# Part of the pixel cache key: bump when decode/resize output changes for the same inputs.
PIXELS_VERSION = 1
# --------------------------------------------------------------------------- decode + resize, once


def _open(source: Any) -> Image.Image:
    if isinstance(source, Image.Image):
        return source
    if isinstance(source, Mapping):  # datasets.Image(decode=False) rows: {"bytes", "path"}
        source = source.get("bytes") or source.get("path")
    if isinstance(source, (bytes, bytearray)):
        return Image.open(io.BytesIO(source))
    return Image.open(source)


def image_to_pixels(image: Any, spec: ImageSpec) -> np.ndarray:
    """Decode one image, make it RGB, resize the shorter side to `spec.resize_size`, centre-crop `spec.size`.

    Args:
        image (`PIL.Image.Image`, `str`, `Path`, `bytes` or `{"bytes", "path"}`): the image or where it is.
        spec (`ImageSpec`): target size and resampling filter.

    Returns:
        `np.ndarray`: uint8, shape (3, size, size).
    """
    im = _open(image)
    r, s = spec.resize_size, spec.size
    # JPEG can decode at 1/2, 1/4 or 1/8 scale in the DCT: large photos decode several times faster.
    im.draft(None, (r, r))
    im = to_rgb(ImageOps.exif_transpose(im))
    w, h = im.size
    side = min(w, h) * s / r  # the crop, measured in source pixels
    left, top = (w - side) / 2, (h - side) / 2
    # Resizing only the crop box is the same as resize-then-crop, without resizing pixels thrown away.
    out = im.resize(
        (s, s), resample=Image.Resampling(spec.resample), box=(left, top, left + side, top + side)
    )
    return np.asarray(out, dtype=np.uint8).transpose(2, 0, 1).copy()


def _file_stats(ds: Dataset, h: Any) -> None:
    """Add size and mtime of every image stored by path, so a file changed in place is decoded again."""
    column = ds.data.column("image")  # the whole underlying table: a superset of the rows, never copied
    for chunk in column.chunks:
        for path, has_bytes in zip(
            chunk.field("path").to_pylist(), chunk.field("bytes").is_valid().to_pylist(), strict=True
        ):
            if has_bytes or not path:
                continue
            try:
                st = os.stat(path)
            except OSError:
                raise DataError(f"image {path} is gone since the dataset was built; rebuild it.") from None
            h.update(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())


def _cache_key(ds: Dataset, spec: ImageSpec) -> str:
    h = hashlib.sha256()
    h.update(json.dumps([PIXELS_VERSION, ds._fingerprint, dataclasses.asdict(spec)], sort_keys=True).encode())
    _file_stats(ds, h)
    return h.hexdigest()[:32]


def decode_and_resize(
    dd: DatasetDict, spec: ImageSpec, cache_dir: Path | None = None, pool: FoldRows | None = None
) -> DatasetDict:
    """Decode every image once into a uint8 `pixel_values` column, cached on disk.

    The result of each split is written to `cache_dir/pixels-<split>-<key>.arrow`, the key hashing the
    dataset fingerprint, the spec and the size/mtime of every image file, so a second run (or a
    second model with the same input size) reads the arrays back instead of decoding again.

    Args:
        dd (`DatasetDict`): splits with an `image` column (`datasets.Image`).
        spec (`ImageSpec`): from `resolve_image_spec`.
        cache_dir (`Path`, *optional*): where the arrays go; defaults to `$FIELDTUNE_CACHE/pixels`.
        pool (`FoldRows`, *optional*): a cross-validation fold's run: the pooled train + validation rows
            are decoded once for every fold (`pixels-pool-<key>.arrow`) and each split is a selection of
            them (image targets are never rescaled, so the rows are the split's rows).

    Returns:
        `DatasetDict`: `pixel_values` (`Array3D((3, S, S), "uint8")`), `label` and any other column kept,
        `image` dropped; formatted so rows give `pixel_values` as a uint8 numpy array.

    Example:
        >>> pixels = decode_and_resize(dd, resolve_image_spec(processor))
        >>> pixels["train"][0]["pixel_values"].shape
        (3, 224, 224)
    """
    cache_dir = Path(cache_dir) if cache_dir is not None else cache_root() / "pixels"
    cache_dir.mkdir(parents=True, exist_ok=True)
    out = {}
    pbar: progress.LazyBar | None = None
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as threads:
        # Threads, not processes: PIL releases the GIL while decoding and resizing.
        def convert(batch: dict[str, list]) -> dict[str, np.ndarray]:
            arrays = list(threads.map(lambda im: image_to_pixels(im, spec), batch["image"]))
            if pbar is not None:
                pbar.update(len(arrays))
            return {"pixel_values": np.array(arrays, dtype=np.uint8).reshape(-1, 3, spec.size, spec.size)}

        splits = {"pool": pool.rows} if pool is not None else {}
        splits |= {s: ds for s, ds in dd.items() if pool is None or s not in pool.index}
        for split, ds in splits.items():
            if "image" not in ds.column_names:
                raise DataError(f"the {split} split has no `image` column ({', '.join(ds.column_names)}).")
            raw = ds.cast_column("image", ImageFeature(decode=False))
            key = _cache_key(raw, spec)
            cache_file = cache_dir / f"pixels-{split}-{key}.arrow"
            if cache_file.exists():
                logger.info("%s: reading decoded images from %s", split, cache_file)
            features = raw.features.copy()
            del features["image"]
            features["pixel_values"] = Array3D(shape=(3, spec.size, spec.size), dtype="uint8")
            # made on the first batch: a split read back from the cache shows no bar
            pbar = progress.LazyBar(len(raw), f"Decoding {split} images to {spec.size}px", unit="img")
            with pbar:
                mapped = raw.map(
                    convert,
                    batched=True,
                    batch_size=64,
                    writer_batch_size=256,
                    remove_columns=["image"],
                    features=features,
                    cache_file_name=str(cache_file),
                    load_from_cache_file=True,
                    new_fingerprint=key,  # our key already covers what datasets would hash
                )
            # Without this the numpy/torch formatters turn uint8 arrays into int64 (8x the bytes).
            out[split] = mapped.with_format(
                "numpy", columns=["pixel_values"], output_all_columns=True, dtype=np.uint8
            )
    if pool is not None:
        rows = out.pop("pool")
        out = {s: rows.select(pool.index[s]) if s in pool.index else out[s] for s in dd}
    return DatasetDict(out)


# --------------------------------------------------------------------------- batches and augmentation


def _fit(x: torch.Tensor, size: int) -> torch.Tensor:
    """Shorter side to `size`, centre crop: for rows that did not go through `decode_and_resize`."""
    h, w = x.shape[-2:]
    if (h, w) == (size, size):
        return x
    scale = size / min(h, w)
    nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
    x = F.interpolate(x[None].float(), size=(nh, nw), mode="bilinear", align_corners=False, antialias=True)[0]
    top, left = (nh - size) // 2, (nw - size) // 2
    return x[:, top : top + size, left : left + size]


class ImageCollator:
    """Stack rows into a normalised channels-last batch; augment per sample when training.

    Args:
        spec (`ImageSpec`): input size and normalisation.
        augment (`AugmentConfig`, *optional*): training augmentation; ignored when `train` is False.
        train (`bool`, *optional*, defaults to `False`): eval batches are deterministic.
        seed (`int`, *optional*): fixed seed; by default the global torch stream (seeded by `set_seed`, restored on resume),
            which `transformers.set_seed` sets and every DataLoader worker derives its own from.
    """

    def __init__(
        self,
        spec: ImageSpec,
        augment: AugmentConfig | None = None,
        train: bool = False,
        seed: int | None = None,
        num_labels: int | None = None,
        targets: Targets = TARGETS["classes"],
    ) -> None:
        self.spec = spec
        self.num_labels = num_labels  # label sets become multi-hot rows this wide
        self.targets = targets  # how a batch's labels are built: class ids, multi-hot sets or numbers
        self.augment = augment if train else None
        self.seed = seed
        std = torch.tensor(spec.std, dtype=torch.float32).view(1, 3, 1, 1)
        # (x / 255 - mean) / std folded into one multiply-add.
        self._scale = 1.0 / (255.0 * std)
        self._shift = -torch.tensor(spec.mean, dtype=torch.float32).view(1, 3, 1, 1) / std
        self._gen: torch.Generator | None = None
        self._gen_key: tuple[int, ...] | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_gen"], state["_gen_key"] = None, None  # each worker process seeds its own
        return state

    def _generator(self) -> torch.Generator:
        if self.seed is None:
            # The global stream: `set_seed` seeds it, each DataLoader worker gets its own, and Trainer
            # checkpoints and restores it, so a resumed run draws the same augmentations as an unbroken one.
            return torch.default_generator
        info = torch.utils.data.get_worker_info()
        key = (self.seed, info.id if info else 0)
        if key != self._gen_key:  # a new worker process: restart the stream
            self._gen, self._gen_key = (
                torch.Generator().manual_seed((key[0] * 1_000_003 + key[1]) % (2**63)),
                key,
            )
        assert self._gen is not None
        return self._gen

    def _pixels(self, row: Mapping[str, Any]) -> torch.Tensor:
        value = row.get("pixel_values")
        if value is None:
            if "image" not in row:
                raise DataError(f"a batch row has no `pixel_values` or `image` (keys: {', '.join(row)}).")
            value = image_to_pixels(row["image"], self.spec)
        if not isinstance(value, torch.Tensor):
            value = torch.from_numpy(np.ascontiguousarray(np.asarray(value)))
        return _fit(value, self.spec.size).float()

    def __call__(self, rows: list[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        images = [self._pixels(row) for row in rows]
        x = (
            augment_batch(images, self.augment, self._generator())
            if self.augment is not None
            else torch.stack(images)
        )
        x = x.mul_(self._scale).add_(self._shift)
        batch = {"pixel_values": x.contiguous(memory_format=torch.channels_last)}
        labels = [row.get("labels", row.get("label")) for row in rows]
        if labels and all(label is not None for label in labels):
            batch["labels"] = self.targets.label_tensor(labels, self.num_labels)
        return batch


def make_image_collator(
    spec: ImageSpec,
    augment: AugmentConfig | None,
    train: bool,
    *,
    seed: int | None = None,
    num_labels: int | None = None,
    targets: Targets = TARGETS["classes"],
) -> Callable[[list[dict]], dict]:
    """Build the `data_collator` for image batches.

    Args:
        spec (`ImageSpec`): from `resolve_image_spec`.
        augment (`AugmentConfig`, *optional*): `data.augment`; used only when `train` is True.
        train (`bool`): training batches are augmented; evaluation batches are deterministic.
        seed (`int`, *optional*): fix the augmentation stream instead of using the global torch stream.
        num_labels (`int`, *optional*): label sets (lists of label ids) become multi-hot rows this wide.
        targets (`Targets`, *optional*): the task's; it builds the label tensor (default: class ids).

    Returns:
        `Callable[[list[dict]], dict]`: rows with `pixel_values` (uint8 (3,H,W)) or `image`, and
        `label`/`labels` -> `{"pixel_values": float (B,3,S,S) channels_last, "labels": long (B,)}`
            (float (B, num_labels) multi-hot for label sets, float (B,) for numbers).

    Example:
        >>> collate = make_image_collator(spec, AugmentConfig(), train=True)
        >>> collate([pixels["train"][i] for i in range(8)])["pixel_values"].shape
        torch.Size([8, 3, 224, 224])
    """
    return ImageCollator(spec, augment, train, seed=seed, num_labels=num_labels, targets=targets)
