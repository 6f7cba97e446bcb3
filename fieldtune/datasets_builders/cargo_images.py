"""`cargo_images`: freight items on warehouse backgrounds, drawn procedurally when no folder is given.

Four classes told apart by shape, not colour: `pallet` (parallel slats with gaps, top or front view,
sometimes stacked), `barrel` (cylinders with ribs, side view, or round lids from above), `sack`
(soft rounded blobs with creases, sometimes tied), `crate` (a framed box of planks with a diagonal
brace). Pallets and crates share wood colours on purpose. Position, scale, rotation, colours,
background (concrete, asphalt, painted floor, wall), shadows and noise vary per image.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from datasets import DatasetDict
from PIL import Image, ImageDraw, ImageFilter

from fieldtune.config import DataConfig
from fieldtune.datasets_builders.registry import register_builder
from fieldtune.datasets_builders.synthetic_images import (
    build_synthetic_or_folder,
    finish,
    grain,
    jitter_colour,
    value_noise,
    write_class_images,
)

# Bump when the drawings change: the cache folder name carries it, so old images are not reused.
GENERATOR_VERSION = 1
SIZE = 64
CANVAS = 2 * SIZE  # drawn at twice the size and box-downsampled: smooth edges for free
WOODS = [(186, 150, 102), (160, 120, 80), (204, 172, 122), (140, 104, 70)]

RGB = tuple[int, int, int]


def _c(rgb: np.ndarray, factor: float = 1.0) -> RGB:
    r, g, b = (int(v) for v in np.clip(np.asarray(rgb) * factor, 0, 255))
    return (r, g, b)


def warehouse_background(rng: np.random.Generator) -> np.ndarray:
    """Concrete, asphalt, painted floor or a wall over a floor."""
    kind = rng.integers(4)
    if kind == 0:  # concrete
        arr = np.full((CANVAS, CANVAS, 3), rng.uniform(110, 175), np.float32)
        arr += (value_noise(rng, CANVAS, 5)[..., None] - 0.5) * rng.uniform(15, 40)
    elif kind == 1:  # asphalt
        arr = np.full((CANVAS, CANVAS, 3), rng.uniform(45, 80), np.float32)
        arr += grain(rng, CANVAS, 2.0, 12.0)[..., None]
    elif kind == 2:  # painted floor, often with a safety line
        arr = np.broadcast_to(jitter_colour(rng, (110, 130, 120), 0.25), (CANVAS, CANVAS, 3)).copy()
        if rng.random() < 0.6:
            yy, xx = np.mgrid[0:CANVAS, 0:CANVAS]
            theta = rng.uniform(0, np.pi)
            t = xx * np.cos(theta) + yy * np.sin(theta) - rng.uniform(0.2, 0.8) * CANVAS * 1.4
            arr[np.abs(t) < rng.uniform(4, 9)] = jitter_colour(rng, (225, 190, 40), 0.1)
    else:  # wall above, floor below
        wall, floor = jitter_colour(rng, (190, 185, 170), 0.2), jitter_colour(rng, (120, 120, 118), 0.2)
        horizon = int(rng.uniform(0.25, 0.6) * CANVAS)
        arr = np.empty((CANVAS, CANVAS, 3), np.float32)
        arr[:horizon], arr[horizon:] = wall, floor
    return arr


def _boards(
    draw: ImageDraw.ImageDraw, box: tuple[float, float, float, float], n: int, fill: RGB, gap: float
) -> None:
    x0, y0, x1, y1 = box
    step = (x1 - x0) / n
    for i in range(n):
        draw.rectangle(
            (x0 + i * step, y0, x0 + (i + 1) * step - gap * step, y1), fill=fill, outline=_c(fill, 0.8)
        )


def _pallet(draw: ImageDraw.ImageDraw, rng: np.random.Generator, cx: float, cy: float, s: float) -> float:
    wood = jitter_colour(rng, WOODS[rng.integers(len(WOODS))], 0.1)
    if rng.random() < 0.6:  # top view: slats over three darker stringers
        w, h = s, s * rng.uniform(0.75, 1.0)
        for f in (0.0, 0.45, 0.9):
            y = cy - h / 2 + f * h
            draw.rectangle((cx - w / 2, y, cx + w / 2, y + h * 0.1), fill=_c(wood, 0.7))
        _boards(
            draw, (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), int(rng.integers(5, 8)), _c(wood), 0.35
        )
        return rng.uniform(0, 180)
    layers = int(rng.integers(1, 4))  # front view: board, three blocks, board; stacked
    w = s
    lh = min(s * 0.35, s / layers)
    for k in range(layers):
        top = cy + s / 2 - (k + 1) * lh
        draw.rectangle((cx - w / 2, top, cx + w / 2, top + lh * 0.22), fill=_c(wood))
        draw.rectangle((cx - w / 2, top + lh * 0.78, cx + w / 2, top + lh * 0.95), fill=_c(wood, 0.9))
        for f in (0.0, 0.43, 0.86):
            x = cx - w / 2 + f * w
            draw.rectangle((x, top + lh * 0.22, x + w * 0.14, top + lh * 0.78), fill=_c(wood, 0.8))
    return rng.uniform(-8, 8)


def _barrel(draw: ImageDraw.ImageDraw, rng: np.random.Generator, cx: float, cy: float, s: float) -> float:
    paints = [(30, 70, 160), (170, 40, 35), (40, 110, 60), (40, 40, 45), (150, 155, 160), (210, 170, 40)]
    paint = jitter_colour(rng, paints[rng.integers(len(paints))], 0.12)
    count = int(rng.integers(1, 4))
    if rng.random() < 0.35:  # seen from above: round lids with a rim and a bung
        r = s / (2 + count * 0.6)
        for _ in range(count):
            x, y = cx + rng.uniform(-s, s) * 0.3, cy + rng.uniform(-s, s) * 0.3
            draw.ellipse((x - r, y - r, x + r, y + r), fill=_c(paint, 0.8), outline=_c(paint, 0.5), width=3)
            draw.ellipse(
                (x - r * 0.75, y - r * 0.75, x + r * 0.75, y + r * 0.75), outline=_c(paint, 1.15), width=2
            )
            draw.ellipse((x + r * 0.3, y - r * 0.5, x + r * 0.5, y - r * 0.3), fill=_c(paint, 0.5))
        return 0.0
    bw = s / count * rng.uniform(0.75, 0.95)
    bh = min(s, bw * rng.uniform(1.3, 1.6))
    for k in range(count):
        x0, y0 = cx - s / 2 + k * s / count, cy - bh / 2
        e = bw * 0.18  # ellipse half-height of the lid: the cylinder cue
        for i in range(int(bw)):  # body shaded across: bright in the middle, dark at the sides
            shade = 0.55 + 0.6 * np.sin(np.pi * (i + 0.5) / bw)
            draw.line((x0 + i, y0 + e, x0 + i, y0 + bh - e), fill=_c(paint, shade))
        draw.ellipse((x0, y0 + bh - 2 * e, x0 + bw, y0 + bh), fill=_c(paint, 0.7))
        for f in (0.33, 0.66):  # ribs
            y = y0 + f * bh
            draw.arc((x0, y - e, x0 + bw, y + e), 0, 180, fill=_c(paint, 0.45), width=2)
        draw.ellipse((x0, y0, x0 + bw, y0 + 2 * e), fill=_c(paint, 1.2), outline=_c(paint, 0.5), width=2)
    return rng.uniform(-10, 10)


def _sack(draw: ImageDraw.ImageDraw, rng: np.random.Generator, cx: float, cy: float, s: float) -> float:
    cloths = [(170, 140, 95), (226, 226, 216), (200, 185, 150), (100, 120, 80), (150, 150, 145)]
    cloth = jitter_colour(rng, cloths[rng.integers(len(cloths))], 0.1)
    count = int(rng.integers(1, 4))
    for k in range(count):
        r = s / 2 / (1 + 0.35 * (count - 1))
        x = cx + rng.uniform(-0.25, 0.25) * s
        y = cy + s / 2 - r * (0.8 + 1.2 * k) if count > 1 else cy
        rx, ry = r * rng.uniform(1.1, 1.4), r * rng.uniform(0.6, 0.85)
        theta = np.linspace(0, 2 * np.pi, 48, endpoint=False)
        wobble = 1 + sum(rng.uniform(0, 0.08) * np.cos(m * theta + rng.uniform(0, 6.3)) for m in (2, 3, 5))
        pts = list(zip(x + rx * wobble * np.cos(theta), y + ry * wobble * np.sin(theta), strict=True))
        draw.polygon(pts, fill=_c(cloth), outline=_c(cloth, 0.7))
        draw.ellipse((x - rx * 0.6, y - ry * 0.7, x + rx * 0.2, y - ry * 0.1), fill=_c(cloth, 1.08))
        for _ in range(int(rng.integers(1, 4))):  # creases
            a = rng.uniform(-0.7, 0.7) * rx
            draw.arc(
                (x + a - rx * 0.3, y - ry * 0.5, x + a + rx * 0.3, y + ry * 0.5),
                200,
                340,
                fill=_c(cloth, 0.75),
                width=2,
            )
        if rng.random() < 0.4:  # tied neck with a tuft
            draw.rectangle((x + rx * 0.85, y - ry * 0.12, x + rx * 1.1, y + ry * 0.12), fill=_c(cloth, 0.6))
            draw.ellipse((x + rx * 1.05, y - ry * 0.3, x + rx * 1.25, y + ry * 0.3), fill=_c(cloth, 0.85))
    return rng.uniform(-30, 30)


def _crate(draw: ImageDraw.ImageDraw, rng: np.random.Generator, cx: float, cy: float, s: float) -> float:
    wood = jitter_colour(rng, WOODS[rng.integers(len(WOODS))], 0.1)
    w, h = s, s * rng.uniform(0.7, 1.05)
    x0, y0, x1, y1 = cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2
    draw.rectangle((x0, y0, x1, y1), fill=_c(wood))
    planks = int(rng.integers(3, 6))
    for i in range(1, planks):
        y = y0 + i * h / planks
        draw.line((x0, y, x1, y), fill=_c(wood, 0.7), width=1)
    t = s * rng.uniform(0.09, 0.14)  # frame
    frame = _c(wood, rng.uniform(0.75, 1.15))
    for box in ((x0, y0, x1, y0 + t), (x0, y1 - t, x1, y1), (x0, y0, x0 + t, y1), (x1 - t, y0, x1, y1)):
        draw.rectangle(box, fill=frame, outline=_c(wood, 0.6))
    diagonals = [((x0 + t, y1 - t), (x1 - t, y0 + t)), ((x0 + t, y0 + t), (x1 - t, y1 - t))]
    if rng.random() < 0.5:
        diagonals.reverse()
    for a, b in diagonals[: 2 if rng.random() < 0.3 else 1]:
        draw.line((a, b), fill=frame, width=int(t * 0.9))
    return rng.uniform(-12, 12)


def _object(rng: np.random.Generator, shape) -> Image.Image:
    """Draw one item on a transparent layer, then rotate it (the shape decides how far)."""
    layer = Image.new("RGBA", (CANVAS, CANVAS), (0, 0, 0, 0))
    s = rng.uniform(0.45, 0.8) * CANVAS
    cx, cy = (CANVAS / 2 + rng.uniform(-0.12, 0.12, 2) * CANVAS).tolist()
    angle = shape(ImageDraw.Draw(layer), rng, cx, cy, s)
    return layer.rotate(angle, resample=Image.Resampling.BICUBIC, center=(cx, cy)) if angle else layer


def place_on_floor(rng: np.random.Generator, bg: np.ndarray, item: Image.Image) -> Image.Image:
    """Composite an RGBA item layer over a background with a soft shadow, vary the lighting, add noise
    and downsample to SIZE x SIZE."""
    alpha = np.asarray(item.getchannel("A"), np.float32) / 255.0
    # A soft shadow below and to one side grounds the item on the floor.
    shadow = item.getchannel("A").filter(ImageFilter.GaussianBlur(rng.uniform(2, 5)))
    dx, dy = rng.integers(-6, 7), rng.integers(2, 8)
    shadow_arr = np.roll(np.asarray(shadow, np.float32) / 255.0, (dy, dx), axis=(0, 1))
    bg *= 1 - rng.uniform(0.25, 0.5) * shadow_arr[..., None]
    arr = bg * (1 - alpha[..., None]) + np.asarray(item.convert("RGB"), np.float32) * alpha[..., None]
    arr = (arr - 128) * rng.uniform(0.8, 1.15) + 128 + rng.uniform(-20, 20)  # lighting
    return finish(rng, arr, rng.uniform(3, 8), SIZE)


def _scene(shape):
    def draw(rng: np.random.Generator) -> Image.Image:
        bg = warehouse_background(rng)
        return place_on_floor(rng, bg, _object(rng, shape))

    return draw


DRAWERS = {
    "barrel": _scene(_barrel),
    "crate": _scene(_crate),
    "pallet": _scene(_pallet),
    "sack": _scene(_sack),
}


def generate_cargo_images(out_dir: str | Path, n: int, seed: int) -> Path:
    """Write `n` cargo PNGs (64x64 RGB), balanced over 4 classes, into `out_dir/<class>/`.

    Args:
        out_dir (`str` or `Path`): target folder (created).
        n (`int`): total number of images.
        seed (`int`): same seed and `n`, same bytes.

    Returns:
        `Path`: `out_dir`, ready for the `image_folder` builder.

    Example:
        >>> generate_cargo_images("cargo", n=40, seed=0)
        PosixPath('cargo')
    """
    return write_class_images(out_dir, n, seed, DRAWERS)


@register_builder("cargo_images")
def build_cargo_images(config: DataConfig, task: str) -> DatasetDict:
    """Cargo photos from `config.path` (like `image_folder`), or `config.num_samples` generated scenes.

    Args:
        config (`DataConfig`): `path` (optional), `seed` and `num_samples` (generation), split fractions.
        task (`str`): `image-classification`.

    Returns:
        `DatasetDict`: train / validation / test with `image` and `label` (`ClassLabel`) columns.
    """
    return build_synthetic_or_folder(config, task, "cargo_images", GENERATOR_VERSION, generate_cargo_images)
