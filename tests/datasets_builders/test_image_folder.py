"""image_folder: layouts, junk, broken files, colour modes and the one-line errors."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from datasets import ClassLabel
from datasets import Image as ImageFeature
from PIL import Image

from fieldtune.config import DataConfig
from fieldtune.datasets_builders.image_folder import build_image_folder, to_rgb
from fieldtune.errors import DataError

TASK = "image-classification"


def _img(path: Path, colour: tuple[int, int, int] = (200, 30, 30), size: tuple[int, int] = (12, 8)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)
    return path


def _classes(root: Path, counts: dict[str, int], ext: str = ".png") -> Path:
    for ci, (name, n) in enumerate(counts.items()):
        for i in range(n):
            _img(root / name / f"{name}_{i}{ext}", colour=(40 * ci, 10 * i, 100))
    return root


def _build(path: Path, **kw) -> object:
    return build_image_folder(DataConfig(builder="image_folder", path=str(path), **kw), TASK)


def _total(dd) -> int:
    return sum(len(ds) for ds in dd.values())


def test_class_folders(tmp_path: Path) -> None:
    dd = _build(_classes(tmp_path, {"sack": 6, "barrel": 6, "crate": 6}))
    assert list(dd) == ["train", "validation", "test"]
    features = dd["train"].features
    assert isinstance(features["image"], ImageFeature) and isinstance(features["label"], ClassLabel)
    assert features["label"].names == ["barrel", "crate", "sack"]
    assert _total(dd) == 18
    assert set(dd["test"]["label"]) == {0, 1, 2}  # stratified
    assert dd["train"][0]["image"].mode == "RGB"


def test_metadata_csv_and_jsonl(tmp_path: Path) -> None:
    rows = []
    for i in range(8):
        _img(tmp_path / "imgs" / f"{i}.png", colour=(i * 20, 0, 0))
        rows.append((f"imgs/{i}.png", "rust" if i % 2 else "clean"))
    (tmp_path / "metadata.csv").write_text("picture,defect\n" + "".join(f"{f},{c}\n" for f, c in rows))
    dd = _build(tmp_path, image_column="picture", label_column="defect")
    assert dd["train"].features["label"].names == ["clean", "rust"]
    assert _total(dd) == 8

    with pytest.raises(DataError, match="lacks column.*file_name"):
        _build(tmp_path)  # default column names are absent
    (tmp_path / "metadata.csv").unlink()
    lines = [f'{{"file_name": "{f}", "label": {i % 2}}}' for i, (f, _) in enumerate(rows)]
    (tmp_path / "metadata.jsonl").write_text(
        "\n".join(lines + ['{"file_name": "imgs/gone.png", "label": 1}'])
    )
    with pytest.raises(DataError, match=r"1 file\(s\) that do not exist \(imgs/gone.png\)"):
        _build(tmp_path)
    (tmp_path / "metadata.jsonl").write_text("\n".join(lines))
    assert _build(tmp_path)["train"].features["label"].names == ["0", "1"]


def test_junk_skipped_and_counted(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = _classes(tmp_path, {"granite": 4, "shale": 4})
    (root / ".DS_Store").write_bytes(b"\0junk")
    (root / "granite" / "Thumbs.db").write_bytes(b"\0")
    (root / "granite" / "._granite_0.png").write_bytes(b"\0appledouble")
    (root / "shale" / "notes.txt").write_text("field notes")
    _img(root / "shale" / ".ipynb_checkpoints" / "copy.png")
    _img(root / ".hidden_class" / "x.png")
    with caplog.at_level(logging.WARNING):
        dd = _build(root)
    assert _total(dd) == 8
    assert dd["train"].features["label"].names == ["granite", "shale"]
    message = " ".join(r.getMessage() for r in caplog.records)
    assert "skipped 6 entries" in message
    assert "3 hidden or system files" in message and "2 hidden or system folders" in message
    assert "1 non-image files" in message


def test_broken_images_named(tmp_path: Path) -> None:
    root = _classes(tmp_path, {"a": 3, "b": 3}, ext=".jpg")
    (root / "a" / "empty.png").write_bytes(b"")
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(root / "b" / "cut.jpg", quality=95)
    whole = (root / "b" / "cut.jpg").read_bytes()
    (root / "b" / "cut.jpg").write_bytes(whole[: len(whole) // 2])  # header intact, scan data cut
    (root / "a" / "fake.jpg").write_text("not an image")
    with pytest.raises(DataError) as err:
        _build(root)
    msg = str(err.value)
    assert "3 image(s) cannot be decoded" in msg and "remove or fix them" in msg
    assert "a/empty.png" in msg and "b/cut.jpg (image file is truncated" in msg and "a/fake.jpg" in msg
    assert "\n" not in msg


def test_colour_modes_become_rgb(tmp_path: Path) -> None:
    root = _classes(tmp_path, {"a": 2, "b": 2})
    Image.new("CMYK", (8, 8), (0, 255, 255, 0)).save(root / "a" / "cmyk.jpg")
    Image.fromarray(np.full((8, 8), 65535, np.uint16)).save(root / "a" / "deep.png")
    rgba = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
    rgba.putpixel((0, 0), (10, 20, 30, 255))
    rgba.save(root / "b" / "alpha.png")
    pal = Image.new("P", (8, 8), 0)
    pal.putpalette([0, 0, 0, 250, 0, 0] + [0] * 762)
    pal.putpixel((1, 1), 1)
    pal.info["transparency"] = 0
    pal.save(root / "b" / "pal.png", transparency=0)
    dd = _build(root, validation_size=0.0, test_size=0.0)
    raw = dd["train"].cast_column("image", ImageFeature(decode=False))["image"]
    images = {Path(p["path"]).name: img for p, img in zip(raw, dd["train"]["image"], strict=True)}
    for img in images.values():
        assert img.mode == "RGB"
    assert images["alpha.png"].getpixel((0, 0)) == (10, 20, 30)
    assert images["alpha.png"].getpixel((5, 5)) == (255, 255, 255)  # transparent -> white, not black
    assert images["pal.png"].getpixel((5, 5)) == (255, 255, 255) and images["pal.png"].getpixel((1, 1)) == (
        250,
        0,
        0,
    )
    assert images["deep.png"].getpixel((3, 3)) == (255, 255, 255)
    r, g, b = images["cmyk.jpg"].getpixel((3, 3))
    assert r > 200 and g < 60 and b < 60  # CMYK (0, 255, 255, 0) is red


def test_to_rgb_scales_sixteen_bit() -> None:
    img = to_rgb(Image.fromarray(np.full((2, 2), 30000, np.uint16)))
    assert img.mode == "RGB" and img.getpixel((0, 0)) == (117, 117, 117)  # 30000 / 257, not clipped to 255


def test_one_class_and_tiny_class_fail(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="single class.*at least two"):
        _build(_classes(tmp_path / "one", {"pallet": 5}))
    with pytest.raises(DataError, match=r"fewer than 2 training images: crate \(1\)"):
        _build(_classes(tmp_path / "tiny", {"pallet": 5, "crate": 1}))
    (tmp_path / "empty" / "a").mkdir(parents=True)
    with pytest.raises(DataError, match="no images found"):
        _build(tmp_path / "empty")


def test_nested_folders_belong_to_class(tmp_path: Path) -> None:
    root = _classes(tmp_path, {"a": 3, "b": 3})
    _img(root / "a" / "site1" / "box3" / "deep.png")
    _img(root / "a" / "site2" / "other.jpg")
    dd = _build(root, validation_size=0.0, test_size=0.0)
    paths = dd["train"].cast_column("image", ImageFeature(decode=False))["image"]
    labels = dd["train"]["label"]
    deep = [label for p, label in zip(paths, labels, strict=True) if "site" in p["path"]]
    assert len(dd["train"]) == 8 and deep == [0, 0]


def test_presplit_folders_kept(tmp_path: Path) -> None:
    _classes(tmp_path / "train", {"a": 6, "b": 6})
    _classes(tmp_path / "test", {"a": 2, "b": 2})
    (tmp_path / "test" / "b" / "Thumbs.db").write_bytes(b"\0")
    dd = _build(tmp_path)
    assert len(dd["test"]) == 4
    test_paths = dd["test"].cast_column("image", ImageFeature(decode=False))["image"]
    assert all("/test/" in p["path"] for p in test_paths)
    assert len(dd["train"]) + len(dd["validation"]) == 12  # validation carved from train only


def test_missing_path_and_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        _build(tmp_path / "nope")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(DataError, match="is not a folder"):
        _build(tmp_path / "notes.txt")


def test_a_text_task_is_refused_with_the_image_tasks_named(tmp_path):
    from fieldtune.errors import ConfigError

    _classes(tmp_path / "photos", {"crate": 2, "sack": 2})
    with pytest.raises(ConfigError) as err:
        build_image_folder(
            DataConfig(builder="image_folder", path=str(tmp_path / "photos")), "text-classification"
        )
    message = str(err.value)
    assert "makes image data but task is 'text-classification'" in message
    assert (
        "image-classification" in message
        and "image-regression" in message
        and "text-regression" not in message
    )
