"""`geology_images`: rock textures, drawn procedurally when no folder of photos is given.

Four classes, each defined by what a geologist looks at, with colour ranges that overlap so that
texture (not colour alone) decides: `granite` (interlocking grains of quartz, feldspar and dark mica),
`sandstone` (fine uniform warm grain, sometimes faint wide bedding), `shale` (thin dark laminations
near horizontal), `limestone_fossil` (light, with round shell outlines). Orientation, grain size,
colour, lighting and noise vary per image: not trivial, but a small CNN learns it in an epoch or two.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from datasets import DatasetDict
from PIL import Image, ImageDraw

from fieldtune.config import DataConfig
from fieldtune.datasets_builders.registry import register_builder
from fieldtune.datasets_builders.synthetic_images import (
    build_synthetic_or_folder,
    finish,
    grain,
    jitter_colour,
    value_noise,
    voronoi_cells,
    write_class_images,
)

# Bump when the drawings change: the cache folder name carries it, so old images are not reused.
GENERATOR_VERSION = 1
SIZE = 64
CANVAS = 2 * SIZE  # drawn at twice the size and box-downsampled: smooth edges for free


def _grid() -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:CANVAS, 0:CANVAS].astype(np.float32)
    return yy, xx


def draw_granite(rng: np.random.Generator) -> Image.Image:
    """Speckled interlocking grains: grey quartz, pink or white feldspar, black mica."""
    cells = voronoi_cells(rng, CANVAS, rng.uniform(5.0, 12.0))
    n = int(cells.max()) + 1
    feldspar = (215, 150, 135) if rng.random() < 0.6 else (228, 222, 210)
    palette = np.array([(185, 185, 182), feldspar, (35, 33, 36), (115, 110, 105)], dtype=np.float32)
    probs = rng.dirichlet([6, 8, 4, 2])
    mineral = rng.choice(4, size=n, p=probs)
    colours = palette[mineral] * rng.uniform(0.85, 1.15, (n, 1)) + rng.normal(0, 8, (n, 3))
    arr = colours[cells] + (value_noise(rng, CANVAS, 5)[..., None] - 0.5) * rng.uniform(10, 30)
    return finish(rng, arr * rng.uniform(0.85, 1.1), rng.uniform(3, 9), SIZE)


def draw_sandstone(rng: np.random.Generator) -> Image.Image:
    """Fine, uniform, warm grain; sometimes faint wide bedding."""
    warm = [(205, 170, 120), (218, 192, 148), (182, 112, 72), (200, 136, 86), (190, 160, 112)]
    base = jitter_colour(rng, warm[rng.integers(len(warm))], 0.1)
    shade = grain(rng, CANVAS, rng.uniform(1.6, 3.0), rng.uniform(6, 12))
    mottle = (value_noise(rng, CANVAS, 3) - 0.5) * rng.uniform(8, 24)
    arr = base + (shade + mottle)[..., None]
    if rng.random() < 0.4:
        yy, xx = _grid()
        theta = np.deg2rad(rng.uniform(-30, 30))
        t = -xx * np.sin(theta) + yy * np.cos(theta)
        arr += (np.sin(2 * np.pi * t / rng.uniform(24, 48) + rng.uniform(0, 6.3)) * rng.uniform(3, 7))[
            ..., None
        ]
    return finish(rng, arr, rng.uniform(3, 7), SIZE)


def draw_shale(rng: np.random.Generator) -> Image.Image:
    """Thin laminations near horizontal, dark grey to brown, each band its own shade."""
    dark = [(82, 82, 88), (96, 102, 96), (72, 66, 60), (108, 106, 112), (62, 64, 72)]
    base = jitter_colour(rng, dark[rng.integers(len(dark))], 0.12)
    yy, xx = _grid()
    theta = np.deg2rad(rng.uniform(-25, 25))
    period = rng.uniform(3.0, 8.0)
    warp = value_noise(rng, CANVAS, 3) * rng.uniform(2, 10)
    t = -xx * np.sin(theta) + yy * np.cos(theta) + warp
    band = np.floor(t / period).astype(int)
    band -= band.min()
    offsets = rng.normal(0, rng.uniform(8, 20), int(band.max()) + 1)
    lines = np.sin(2 * np.pi * t / period) * rng.uniform(3, 10)
    arr = base + (offsets[band] + lines)[..., None]
    return finish(rng, arr, rng.uniform(3, 7), SIZE)


def _shell(draw: ImageDraw.ImageDraw, rng: np.random.Generator, base: np.ndarray) -> None:
    r = rng.uniform(6, 20)
    cx, cy = rng.uniform(0, CANVAS, 2)
    ry = r * rng.uniform(0.6, 1.0)
    edge = tuple(int(v) for v in np.clip(base * rng.uniform(0.45, 0.75), 0, 255))
    fill = tuple(int(v) for v in np.clip(base * rng.uniform(0.85, 1.08), 0, 255))
    width = int(rng.integers(2, 4))
    kind = rng.integers(3)
    draw.ellipse((cx - r, cy - ry, cx + r, cy + ry), fill=fill, outline=edge, width=width)
    if kind == 1:  # ammonite: nested whorls
        for k in range(1, int(rng.integers(2, 4))):
            f = 1 - 0.3 * k
            draw.ellipse(
                (cx - r * f, cy - ry * f, cx + r * f, cy + ry * f), outline=edge, width=max(1, width - 1)
            )
    elif kind == 2:  # bivalve: radial ribs
        for a in np.linspace(0, np.pi, int(rng.integers(4, 8))):
            draw.line((cx, cy, cx + r * np.cos(a), cy - ry * np.sin(a)), fill=edge, width=1)


def draw_limestone_fossil(rng: np.random.Generator) -> Image.Image:
    """Light, finely mottled rock with round shell outlines (rings, whorls, ribbed valves)."""
    light = [(226, 216, 192), (210, 206, 196), (232, 226, 212), (214, 200, 170)]
    base = jitter_colour(rng, light[rng.integers(len(light))], 0.08)
    shade = grain(rng, CANVAS, rng.uniform(2.0, 4.0), 5.0)
    mottle = (value_noise(rng, CANVAS, 4) - 0.5) * rng.uniform(10, 25)
    arr = np.clip(base + (shade + mottle)[..., None], 0, 255).astype(np.uint8)
    img = Image.fromarray(arr)
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(3, 8))):
        _shell(draw, rng, base)
    return finish(rng, np.asarray(img), rng.uniform(3, 7), SIZE)


DRAWERS = {
    "granite": draw_granite,
    "limestone_fossil": draw_limestone_fossil,
    "sandstone": draw_sandstone,
    "shale": draw_shale,
}


def generate_geology_images(out_dir: str | Path, n: int, seed: int) -> Path:
    """Write `n` rock-texture PNGs (64x64 RGB), balanced over 4 classes, into `out_dir/<class>/`.

    Args:
        out_dir (`str` or `Path`): target folder (created).
        n (`int`): total number of images.
        seed (`int`): same seed and `n`, same bytes.

    Returns:
        `Path`: `out_dir`, ready for the `image_folder` builder.

    Example:
        >>> generate_geology_images("rocks", n=40, seed=0)
        PosixPath('rocks')
    """
    return write_class_images(out_dir, n, seed, DRAWERS)


@register_builder("geology_images")
def build_geology_images(config: DataConfig, task: str) -> DatasetDict:
    """Rock photos from `config.path` (like `image_folder`), or `config.num_samples` generated textures.

    Args:
        config (`DataConfig`): `path` (optional), `seed` and `num_samples` (generation), split fractions.
        task (`str`): `image-classification`.

    Returns:
        `DatasetDict`: train / validation / test with `image` and `label` (`ClassLabel`) columns.
    """
    return build_synthetic_or_folder(
        config, task, "geology_images", GENERATOR_VERSION, generate_geology_images
    )
