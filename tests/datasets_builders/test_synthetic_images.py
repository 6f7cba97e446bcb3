"""Synthetic geology / cargo images: deterministic, balanced, cached, and learnable."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from fieldtune.config import DataConfig
from fieldtune.datasets_builders.cargo_images import build_cargo_images, generate_cargo_images
from fieldtune.datasets_builders.geology_images import build_geology_images, generate_geology_images
from fieldtune.datasets_builders.synthetic_images import class_counts

GENERATORS = {"geology": generate_geology_images, "cargo": generate_cargo_images}


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.png"))}


@pytest.mark.parametrize("domain", sorted(GENERATORS))
def test_same_seed_same_bytes(tmp_path: Path, domain: str) -> None:
    gen = GENERATORS[domain]
    a, b, c = (_files(gen(tmp_path / name, 12, seed)) for name, seed in (("a", 7), ("b", 7), ("c", 8)))
    assert a == b
    assert a.keys() == c.keys() and a != c
    with Image.open(tmp_path / "a" / next(iter(a))) as img:
        assert img.mode == "RGB" and img.size == (64, 64)


@pytest.mark.parametrize("domain", sorted(GENERATORS))
def test_classes_balanced(tmp_path: Path, domain: str) -> None:
    root = GENERATORS[domain](tmp_path, 18, 0)
    counts = {d.name: len(list(d.glob("*.png"))) for d in sorted(root.iterdir())}
    assert sorted(counts.values(), reverse=True) == [5, 5, 4, 4]
    assert class_counts(18, 4) == [5, 5, 4, 4]
    expected = {
        "geology": ["granite", "limestone_fossil", "sandstone", "shale"],
        "cargo": ["barrel", "crate", "pallet", "sack"],
    }
    assert list(counts) == expected[domain]


def test_builder_generates_into_cache_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIELDTUNE_CACHE", str(tmp_path / "cache"))
    config = DataConfig(builder="cargo_images", num_samples=40, seed=3)
    dd = build_cargo_images(config, "image-classification")
    folder = tmp_path / "cache" / "synthetic" / "cargo_images-v1-seed3-n40"
    assert len(list(folder.rglob("*.png"))) == 40
    assert sum(len(ds) for ds in dd.values()) == 40
    assert dd["train"].features["label"].names == ["barrel", "crate", "pallet", "sack"]
    stamp = {p: p.stat().st_mtime_ns for p in folder.rglob("*.png")}
    again = build_cargo_images(config, "image-classification")
    assert {p: p.stat().st_mtime_ns for p in folder.rglob("*.png")} == stamp  # read back, not redrawn
    assert again["test"]["label"] == dd["test"]["label"]
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]  # no temporary folder left


def test_builder_reads_given_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIELDTUNE_CACHE", str(tmp_path / "cache"))
    generate_geology_images(tmp_path / "rocks", 16, 1)
    dd = build_geology_images(
        DataConfig(builder="geology_images", path=str(tmp_path / "rocks")), "image-classification"
    )
    assert sum(len(ds) for ds in dd.values()) == 16
    assert not (tmp_path / "cache").exists()


def _orientation_histograms(a: np.ndarray, cells: int = 4, bins: int = 8) -> np.ndarray:
    """Gradient-orientation histograms per cell (a tiny HOG): what a first conv layer would see."""
    gy, gx = np.gradient(a.mean(2))
    mag, ang = np.hypot(gx, gy), np.mod(np.arctan2(gy, gx), np.pi)
    idx = np.minimum((ang / np.pi * bins).astype(int), bins - 1)
    s = a.shape[0] // cells
    feats = [
        np.bincount(idx[i : i + s, j : j + s].ravel(), mag[i : i + s, j : j + s].ravel(), bins)
        for i in range(0, a.shape[0], s)
        for j in range(0, a.shape[1], s)
    ]
    f = np.concatenate(feats)
    return f / (np.linalg.norm(f) + 1e-6)


def _held_out_accuracy(features: np.ndarray, labels: np.ndarray, c: float) -> float:
    xtr, xte, ytr, yte = train_test_split(features, labels, test_size=0.33, random_state=0, stratify=labels)
    return LogisticRegression(max_iter=3000, C=c).fit(xtr, ytr).score(xte, yte)


@pytest.mark.parametrize(("domain", "pixel_floor"), [("geology", 0.8), ("cargo", 0.4)])
def test_classes_are_learnable(tmp_path: Path, domain: str, pixel_floor: float) -> None:
    root = GENERATORS[domain](tmp_path, 240, 1)
    images, labels = [], []
    for ci, folder in enumerate(sorted(root.iterdir())):
        for f in sorted(folder.glob("*.png")):
            with Image.open(f) as img:
                images.append(np.asarray(img, np.float32) / 255)
            labels.append(ci)
    y = np.array(labels)
    # 8x8 RGB thumbnails: chance is 0.25, so even colour and layout alone must carry signal.
    pixels = np.stack([a.reshape(8, 8, 8, 8, 3).mean((1, 3)).ravel() for a in images])
    assert _held_out_accuracy(pixels, y, 0.5) > pixel_floor
    # Shapes (slats, braces, curves, laminations) are what really separates the classes.
    shapes = np.stack([_orientation_histograms(a) for a in images])
    assert _held_out_accuracy(np.hstack([shapes, pixels]), y, 5.0) > 0.65
