"""`cargo_tags`: cardboard boxes with several marks each (a label set per image), drawn when no folder is given.

Each box carries any subset of four marks, each present with probability 0.4 and drawn so it can be
seen: `damaged_packaging` (a crushed, darker corner and jagged tears), `hazmat_label` (a red-bordered
diamond), `fragile_sticker` (a red sticker with a white glass) and `pallet_wrap` (glossy stretch film with
bright diagonal streaks over the whole box). About one box in eight has no mark (an all-negative example).
Boxes stand on the warehouse floors of `cargo_images`, with position, size, tilt, colours, shadow and noise
varying per image. Written as PNGs plus `metadata.jsonl` (`file_name`, `label`: a list), read back by
`image_folder` like a user's own tagged photos.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from datasets import DatasetDict
from PIL import Image, ImageDraw

from fieldtune.config import DataConfig
from fieldtune.datasets_builders.cargo_images import CANVAS, place_on_floor, warehouse_background
from fieldtune.datasets_builders.registry import register_builder
from fieldtune.datasets_builders.synthetic_images import build_synthetic_or_folder, jitter_colour, rng_for

# Bump when the drawings change: the cache folder name carries it, so old images are not reused.
GENERATOR_VERSION = 1
MARKS = ("damaged_packaging", "fragile_sticker", "hazmat_label", "pallet_wrap")
P_MARK = 0.4

Box = tuple[float, float, float, float]


def _rgb(colour: np.ndarray, factor: float = 1.0, alpha: int = 255) -> tuple[int, int, int, int]:
    r, g, b = (int(v) for v in np.clip(np.asarray(colour) * factor, 0, 255))
    return (r, g, b, alpha)


def _hazmat(draw: ImageDraw.ImageDraw, rng: np.random.Generator, cx: float, cy: float, s: float) -> None:
    r = s * rng.uniform(0.45, 0.55)
    diamond = [(cx, cy - r), (cx + r, cy), (cx, cy + r), (cx - r, cy)]
    fill = (245, 245, 240) if rng.random() < 0.5 else (240, 150, 30)
    draw.polygon(diamond, fill=fill + (255,), outline=(200, 25, 25, 255), width=max(3, int(r * 0.22)))
    t = r * 0.35  # a black pictogram: a flame-like triangle
    draw.polygon(
        [(cx, cy - t), (cx + t * 0.8, cy + t * 0.6), (cx - t * 0.8, cy + t * 0.6)], fill=(20, 20, 20, 255)
    )


def _fragile(draw: ImageDraw.ImageDraw, rng: np.random.Generator, cx: float, cy: float, s: float) -> None:
    w, h = s * rng.uniform(0.9, 1.1), s * rng.uniform(0.6, 0.75)
    draw.rectangle((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), fill=(205, 30, 35, 255))
    g = h * 0.36  # a white wine glass: bowl, stem, foot
    draw.polygon([(cx - g * 0.7, cy - g), (cx + g * 0.7, cy - g), (cx, cy)], fill=(250, 250, 250, 255))
    draw.line((cx, cy, cx, cy + g * 0.8), fill=(250, 250, 250, 255), width=max(2, int(g * 0.2)))
    draw.line((cx - g * 0.5, cy + g * 0.8, cx + g * 0.5, cy + g * 0.8), fill=(250, 250, 250, 255), width=2)


def _damage(draw: ImageDraw.ImageDraw, rng: np.random.Generator, box: Box, card: np.ndarray) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    corner = rng.integers(4)  # a crushed corner: a dark dented wedge
    cx, cy = (x0, x1)[corner % 2], (y0, y1)[corner // 2]
    sx, sy = (1, -1)[corner % 2], (1, -1)[corner // 2]
    d = rng.uniform(0.3, 0.45)
    draw.polygon(
        [
            (cx, cy),
            (cx + sx * w * d, cy),
            (cx + sx * w * d * 0.4, cy + sy * h * d * 0.5),
            (cx, cy + sy * h * d),
        ],
        fill=_rgb(card, 0.45),
    )
    for _ in range(int(rng.integers(2, 4))):  # jagged tears across the face
        x, y = x0 + rng.uniform(0.2, 0.8) * w, y0 + rng.uniform(0.2, 0.8) * h
        pts = [(x, y)]
        for _ in range(5):
            x, y = x + rng.uniform(-0.12, 0.12) * w, y + rng.uniform(0.03, 0.1) * h
            pts.append((x, y))
        draw.line(pts, fill=(35, 25, 15, 255), width=3)


def _wrap(layer: Image.Image, rng: np.random.Generator, box: Box) -> Image.Image:
    """Stretch film: a pale translucent sheet over the box with bright diagonal streaks."""
    x0, y0, x1, y1 = box
    film = Image.new("RGBA", layer.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(film)
    m = 0.04 * (x1 - x0)
    draw.rectangle((x0 - m, y0 - m, x1 + m, y1 + m), fill=(235, 240, 245, int(rng.uniform(70, 110))))
    for k in range(int(rng.integers(4, 7))):
        off = x0 + (k + rng.uniform(0, 0.5)) * (x1 - x0) / 4 - (y1 - y0) * 0.5
        draw.line((off, y1, off + (y1 - y0), y0), fill=(255, 255, 255, 200), width=int(rng.integers(2, 5)))
    mask = Image.new("L", layer.size, 0)
    ImageDraw.Draw(mask).rectangle((x0 - m, y0 - m, x1 + m, y1 + m), fill=255)
    film.putalpha(Image.fromarray(np.minimum(np.asarray(film.getchannel("A")), np.asarray(mask))))
    return Image.alpha_composite(layer, film)


def draw_tagged_box(rng: np.random.Generator) -> tuple[Image.Image, list[str]]:
    """One box with a random subset of `MARKS`; returns the image (SIZE x SIZE RGB) and its sorted labels."""
    marks = [m for m in MARKS if rng.random() < P_MARK]
    layer = Image.new("RGBA", (CANVAS, CANVAS), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    card = jitter_colour(rng, (185, 145, 95), 0.1)
    w, h = rng.uniform(0.6, 0.8) * CANVAS, rng.uniform(0.5, 0.7) * CANVAS
    cx, cy = (CANVAS / 2 + rng.uniform(-0.06, 0.06, 2) * CANVAS).tolist()
    box = (cx - w / 2, cy - h / 2 + 0.06 * CANVAS, cx + w / 2, cy + h / 2)
    top = 0.12 * h  # the lid seen in perspective, and a strip of tape over it
    draw.polygon(
        [(box[0], box[1]), (box[0] + top, box[1] - top), (box[2] + top, box[1] - top), (box[2], box[1])],
        fill=_rgb(card, 1.15),
    )
    draw.polygon(
        [(box[2], box[1]), (box[2] + top, box[1] - top), (box[2] + top, box[3] - top), (box[2], box[3])],
        fill=_rgb(card, 0.75),
    )
    draw.rectangle(box, fill=_rgb(card), outline=_rgb(card, 0.7))
    tape = jitter_colour(rng, (200, 170, 120), 0.08)
    draw.rectangle((cx - w * 0.06, box[1] - top, cx + w * 0.06, box[1] + h * 0.2), fill=_rgb(tape, 1.05))
    if "damaged_packaging" in marks:
        _damage(draw, rng, box, card)
    # the stickers go to two different halves of the face, so they never cover each other
    halves = rng.permutation(2)
    s = min(box[2] - box[0], box[3] - box[1]) * 0.42
    for mark, half in zip(("hazmat_label", "fragile_sticker"), halves, strict=True):
        if mark in marks:
            mx = box[0] + (0.27 + 0.46 * half) * (box[2] - box[0]) + rng.uniform(-0.04, 0.04) * w
            my = box[1] + rng.uniform(0.45, 0.6) * (box[3] - box[1])
            (_hazmat if mark == "hazmat_label" else _fragile)(draw, rng, mx, my, s)
    if "pallet_wrap" in marks:
        layer = _wrap(layer, rng, box)
    layer = layer.rotate(rng.uniform(-10, 10), resample=Image.Resampling.BICUBIC, center=(cx, cy))

    return place_on_floor(rng, warehouse_background(rng), layer), sorted(marks)


def generate_cargo_tags(out_dir: str | Path, n: int, seed: int) -> Path:
    """Write `n` tagged box PNGs (64x64 RGB) into `out_dir/images/` and their labels into `metadata.jsonl`.

    Args:
        out_dir (`str` or `Path`): target folder (created).
        n (`int`): number of images.
        seed (`int`): same seed, same bytes; image i does not depend on `n`.

    Returns:
        `Path`: `out_dir`, ready for the `image_folder` builder with task `image-multilabel`.

    Example:
        >>> generate_cargo_tags("boxes", n=40, seed=0)
        PosixPath('boxes')
    """
    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        image, labels = draw_tagged_box(rng_for(seed, 0, i))
        name = f"images/box_{i:05d}.png"
        image.save(out / name)
        rows.append(json.dumps({"file_name": name, "label": labels}))
    (out / "metadata.jsonl").write_text("\n".join(rows) + "\n")
    return out


@register_builder("cargo_tags")
def build_cargo_tags(config: DataConfig, task: str) -> DatasetDict:
    """Tagged cargo photos from `config.path` (like `image_folder`), or `config.num_samples` generated boxes.

    Args:
        config (`DataConfig`): `path` (optional), `seed` and `num_samples` (generation), split fractions.
        task (`str`): `image-multilabel`.

    Returns:
        `DatasetDict`: train / validation / test with `image` and `label` (`Sequence(ClassLabel)`) columns.
    """
    return build_synthetic_or_folder(config, task, "cargo_tags", GENERATOR_VERSION, generate_cargo_tags)
