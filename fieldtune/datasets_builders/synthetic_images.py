"""Shared machinery of the procedurally drawn image data sets (`geology_images`, `cargo_images`).

Images are drawn with numpy + PIL from a seed, written as PNG into one folder per class under
`$FIELDTUNE_CACHE/synthetic/<builder>-v<version>-seed<seed>-n<n>/` (default `~/.cache/fieldtune`), and
read back through the `image_folder` builder: the user can open the folder and look at what the model
learns from, and the synthetic path exercises exactly the code real photos go through.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
from datasets import DatasetDict
from PIL import Image

from fieldtune.config import DataConfig
from fieldtune.datasets_builders.image_folder import build_image_folder

logger = logging.getLogger(__name__)

Drawer = Callable[[np.random.Generator], Image.Image]
Generator = Callable[[Path, int, int], Path]


def cache_root() -> Path:
    """fieldtune's cache folder: `$FIELDTUNE_CACHE` when set, else `~/.cache/fieldtune`."""
    env = os.environ.get("FIELDTUNE_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "fieldtune"


def rng_for(seed: int, *keys: int) -> np.random.Generator:
    """An independent generator per (seed, class, index): image i does not depend on how many are drawn."""
    return np.random.default_rng(np.random.SeedSequence([seed & 0xFFFFFFFF, *keys]))


def class_counts(n: int, k: int) -> list[int]:
    """Split `n` images over `k` classes as evenly as possible (the first classes take the remainder)."""
    return [n // k + (1 if i < n % k else 0) for i in range(k)]


# --------------------------------------------------------------------------- drawing helpers


def value_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Smooth noise in [0, 1]: a `cells` x `cells` random grid upsampled bicubically to `size`."""
    grid = rng.random((cells, cells), dtype=np.float32)
    img = Image.fromarray(grid).resize((size, size), Image.Resampling.BICUBIC)
    return np.clip(np.asarray(img), 0.0, 1.0)


def grain(rng: np.random.Generator, size: int, cell: float, sigma: float) -> np.ndarray:
    """Blocky per-grain brightness offsets (fine sediment): a coarse normal grid, nearest-upsampled."""
    m = max(2, round(size / cell))
    img = Image.fromarray(rng.normal(0, sigma, (m, m)).astype(np.float32))
    return np.asarray(img.resize((size, size), Image.Resampling.NEAREST))


def voronoi_cells(rng: np.random.Generator, size: int, cell: float) -> np.ndarray:
    """Label each pixel with its nearest seed point on a jittered grid (irregular grains / pebbles).

    Only the 3x3 neighbouring grid cells can hold the nearest point, so this is 9 distance maps,
    not one per point.
    """
    g = int(np.ceil(size / cell)) + 2  # one cell of padding on each side: no index clipping needed
    py = ((np.arange(g)[:, None] + rng.random((g, g))) * cell - cell).astype(np.float32)
    px = ((np.arange(g)[None, :] + rng.random((g, g))) * cell - cell).astype(np.float32)
    pos = np.arange(size, dtype=np.float32)
    home = (pos // cell).astype(np.intp) + 1
    best = np.full((size, size), np.inf, dtype=np.float32)
    label = np.zeros((size, size), dtype=np.intp)
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            rows, cols = np.ix_(home + di, home + dj)
            d = (py[rows, cols] - pos[:, None]) ** 2 + (px[rows, cols] - pos[None, :]) ** 2
            closer = d < best
            best = np.where(closer, d, best)
            label = np.where(closer, rows * g + cols, label)
    return label


def jitter_colour(rng: np.random.Generator, rgb: tuple[float, float, float], amount: float) -> np.ndarray:
    """A colour near `rgb`: one shared brightness shift plus a small shift per channel."""
    base = np.asarray(rgb, dtype=np.float32)
    return np.clip(base * rng.uniform(1 - amount, 1 + amount) + rng.normal(0, 255 * amount / 3, 3), 0, 255)


def finish(rng: np.random.Generator, arr: np.ndarray, noise: float, out_size: int) -> Image.Image:
    """Add per-pixel noise, clip to uint8 and box-downsample to `out_size` (anti-aliases the shapes)."""
    arr = arr.astype(np.float32) + rng.normal(0, noise, arr.shape).astype(np.float32)
    img = Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8))
    factor = img.width // out_size
    return img.reduce(factor) if factor > 1 else img


# --------------------------------------------------------------------------- writing and caching


def write_class_images(out_dir: str | Path, n: int, seed: int, drawers: Mapping[str, Drawer]) -> Path:
    """Draw `n` images spread evenly over the classes of `drawers` into `out_dir/<class>/<class>_00000.png`.

    Args:
        out_dir (`str` or `Path`): target folder (created).
        n (`int`): total number of images.
        seed (`int`): same seed, same bytes.
        drawers (`Mapping[str, Drawer]`): class name -> function drawing one RGB image from a generator.

    Returns:
        `Path`: `out_dir`.
    """
    out = Path(out_dir)
    names = sorted(drawers)
    for ci, (name, count) in enumerate(zip(names, class_counts(n, len(names)), strict=True)):
        (out / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            drawers[name](rng_for(seed, ci, i)).save(out / name / f"{name}_{i:05d}.png")
    return out


def cached_folder(builder: str, version: int, seed: int, n: int, generate: Generator) -> Path:
    """Return the cache folder of (builder, seed, n, version), generating it first when missing.

    Generation goes to a hidden temporary sibling that is renamed at the end, so a half-written
    folder is never mistaken for a finished one, and two processes racing (e.g. under
    `accelerate launch`) both end with the same complete folder.
    """
    target = cache_root() / "synthetic" / f"{builder}-v{version}-seed{seed}-n{n}"
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        generate(tmp, n, seed)
        os.rename(tmp, target)
        logger.info("wrote %d synthetic %s images to %s", n, builder, target)
    except OSError:
        if not target.is_dir():
            raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def build_synthetic_or_folder(
    config: DataConfig, task: str, builder: str, version: int, generate: Generator
) -> DatasetDict:
    """The body of a domain image builder: read `config.path` if given, else the generated cache folder."""
    if config.path:
        return build_image_folder(config, task)
    folder = cached_folder(builder, version, config.seed, config.num_samples, generate)
    return build_image_folder(dataclasses.replace(config, path=str(folder)), task)
