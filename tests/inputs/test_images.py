"""Image preprocessing: spec from processors, decode-once cache, deterministic eval, seeded augmentation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from datasets import Array3D, ClassLabel, Dataset, DatasetDict, Features
from datasets import Image as ImageFeature
from PIL import Image

from fieldtune.config import AugmentConfig
from fieldtune.inputs import images as image_prep
from fieldtune.inputs.image_spec import ImageSpec, resolve_image_spec
from fieldtune.inputs.images import decode_and_resize, image_to_pixels, make_image_collator

SPEC = ImageSpec(size=16, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))


@pytest.fixture
def image_dd(tmp_path: Path) -> DatasetDict:
    rng = np.random.default_rng(0)
    rows = []
    for i, size in enumerate([(40, 24), (24, 40), (16, 16), (100, 60), (33, 47), (64, 64)]):
        arr = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        path = tmp_path / "img" / f"{i}.{'jpg' if i % 2 else 'png'}"
        path.parent.mkdir(exist_ok=True)
        Image.fromarray(arr).save(path)
        rows.append(str(path))
    features = Features({"image": ImageFeature(), "label": ClassLabel(names=["a", "b"])})
    data = {"image": rows, "label": [i % 2 for i in range(len(rows))]}
    ds = Dataset.from_dict(data, features=features)
    return DatasetDict({"train": ds.select(range(4)), "test": ds.select(range(4, 6))})


def test_spec_from_vit_processor() -> None:
    from transformers import ViTImageProcessor

    spec = resolve_image_spec(ViTImageProcessor(size={"height": 32, "width": 32}))
    assert (spec.size, spec.resize_size) == (32, 32)
    assert spec.mean == (0.5, 0.5, 0.5) and spec.std == (0.5, 0.5, 0.5)
    assert (
        resolve_image_spec(ViTImageProcessor(size={"height": 32, "width": 32}), override_size=48).size == 48
    )


def test_spec_from_convnext_processor() -> None:
    from transformers import ConvNextImageProcessor

    proc = ConvNextImageProcessor(
        size={"shortest_edge": 224},
        crop_pct=0.875,
        image_mean=[0.485, 0.456, 0.406],
        image_std=[0.229, 0.224, 0.225],
    )
    spec = resolve_image_spec(proc)
    assert (spec.size, spec.resize_size) == (224, 256)  # resize to 224 / crop_pct, crop 224
    assert spec.mean == pytest.approx((0.485, 0.456, 0.406)) and spec.std == pytest.approx(
        (0.229, 0.224, 0.225)
    )
    assert spec.resample == int(Image.Resampling.BICUBIC)
    small = resolve_image_spec(proc, override_size=64)
    assert (small.size, small.resize_size) == (64, 73)  # the resize / crop ratio is kept
    big = resolve_image_spec(ConvNextImageProcessor(size={"shortest_edge": 384}))
    assert (big.size, big.resize_size) == (384, 384)  # ConvNeXT does not crop at 384 and above


def test_spec_from_config_dict_and_fallback() -> None:
    mobilenet = {
        "size": {"shortest_edge": 256},
        "crop_size": {"height": 224, "width": 224},
        "do_center_crop": True,
    }
    spec = resolve_image_spec(mobilenet)
    assert (spec.size, spec.resize_size) == (224, 256)
    assert spec.mean == pytest.approx((0.485, 0.456, 0.406))  # ImageNet only as the fallback
    assert resolve_image_spec(None, override_size=32).size == 32


def test_image_to_pixels_crops_centre() -> None:
    arr = np.zeros((20, 60, 3), np.uint8)
    arr[:, 20:40] = 255  # a white centre band, exactly the centre square
    out = image_to_pixels(Image.fromarray(arr), ImageSpec(size=10, mean=(0, 0, 0), std=(1, 1, 1)))
    assert out.shape == (3, 10, 10) and out.dtype == np.uint8
    assert out[:, :, 2:8].min() == 255


def test_decode_and_resize_shapes_and_cache(
    image_dd: DatasetDict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = decode_and_resize(image_dd, SPEC, cache_dir=tmp_path / "cache")
    assert set(out["train"].column_names) == {"pixel_values", "label"}
    assert out["train"].features["pixel_values"] == Array3D(shape=(3, 16, 16), dtype="uint8")
    row = out["train"][0]
    assert row["pixel_values"].shape == (3, 16, 16) and row["pixel_values"].dtype == np.uint8
    assert row["label"] == 0 and len(out["test"]) == 2
    first = np.stack([r["pixel_values"] for r in out["train"]])

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("decoded again instead of reading the cache")

    monkeypatch.setattr(image_prep, "image_to_pixels", fail)
    again = decode_and_resize(image_dd, SPEC, cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(first, np.stack([r["pixel_values"] for r in again["train"]]))
    # A file changed in place (same path) must be decoded again.
    Image.new("RGB", (30, 30), (1, 2, 3)).save(image_dd["train"][0]["image"].filename)
    with pytest.raises(AssertionError, match="decoded again"):
        decode_and_resize(image_dd, SPEC, cache_dir=tmp_path / "cache")


def test_decode_and_resize_deterministic(image_dd: DatasetDict, tmp_path: Path) -> None:
    a = decode_and_resize(image_dd, SPEC, cache_dir=tmp_path / "a")["train"]
    b = decode_and_resize(image_dd, SPEC, cache_dir=tmp_path / "b")["train"]
    for ra, rb in zip(a, b, strict=True):
        np.testing.assert_array_equal(ra["pixel_values"], rb["pixel_values"])


def _rows(n: int = 6) -> list[dict]:
    rng = np.random.default_rng(1)
    return [
        {"pixel_values": rng.integers(0, 256, (3, 16, 16), dtype=np.uint8), "label": i % 3} for i in range(n)
    ]


def test_eval_collator_deterministic_and_normalised() -> None:
    collate = make_image_collator(SPEC, AugmentConfig(color_jitter=0.5), train=False)
    rows = _rows()
    rows[0]["pixel_values"][:] = 255
    rows[1]["pixel_values"][:] = 0
    batch = collate(rows)
    x = batch["pixel_values"]
    assert x.shape == (6, 3, 16, 16) and x.dtype == torch.float32
    assert x.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(x[0], torch.ones_like(x[0])) and torch.allclose(x[1], -torch.ones_like(x[1]))
    assert batch["labels"].dtype == torch.long and batch["labels"].tolist() == [0, 1, 2, 0, 1, 2]
    torch.testing.assert_close(collate(rows)["pixel_values"], x)
    # Rows straight from a numpy-formatted dataset (int64), as lists, or as images give the same batch.
    as_lists = [
        {"pixel_values": r["pixel_values"].astype(np.int64).tolist(), "labels": r["label"]} for r in rows
    ]
    torch.testing.assert_close(collate(as_lists)["pixel_values"], x)
    images = [{"image": Image.fromarray(r["pixel_values"].transpose(1, 2, 0))} for r in rows]
    from_images = collate(images)
    torch.testing.assert_close(from_images["pixel_values"], x)
    assert "labels" not in from_images


def test_train_collator_augments_reproducibly() -> None:
    from transformers import set_seed

    augment = AugmentConfig(
        crop_scale_min=0.5, horizontal_flip=True, vertical_flip=True, rotate90=True, color_jitter=0.4
    )
    rows = _rows(8)
    plain = make_image_collator(SPEC, augment, train=False)(rows)["pixel_values"]
    set_seed(0)
    first = make_image_collator(SPEC, augment, train=True)(rows)
    assert first["pixel_values"].shape == plain.shape
    assert first["pixel_values"].is_contiguous(memory_format=torch.channels_last)
    assert not torch.allclose(first["pixel_values"], plain)
    assert first["labels"].tolist() == [0, 1, 2, 0, 1, 2, 0, 1]
    set_seed(0)
    torch.testing.assert_close(
        make_image_collator(SPEC, augment, train=True)(rows)["pixel_values"], first["pixel_values"]
    )
    set_seed(1)
    assert not torch.allclose(
        make_image_collator(SPEC, augment, train=True)(rows)["pixel_values"], first["pixel_values"]
    )
    # Each augmentation alone keeps values inside the normalised range of the input.
    for one in (
        AugmentConfig(random_resized_crop=True, horizontal_flip=False),
        AugmentConfig(random_resized_crop=False, horizontal_flip=False, rotate90=True),
        AugmentConfig(random_resized_crop=False, horizontal_flip=False, color_jitter=0.8),
        AugmentConfig(random_resized_crop=False, horizontal_flip=False, gamma_jitter=0.5),
        AugmentConfig(random_resized_crop=False, horizontal_flip=False, random_erasing=1.0),
    ):
        out = make_image_collator(SPEC, one, train=True, seed=3)(rows)["pixel_values"]
        assert out.shape == plain.shape and out.min() >= -1.0 - 1e-5 and out.max() <= 1.0 + 1e-5
        assert not torch.allclose(out, plain)  # the collator applies it while training
