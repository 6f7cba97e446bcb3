"""image_folder with a Hub dataset id: loaded by `datasets` over HTTP from the test Hub server."""

from __future__ import annotations

import io
import uuid

import pytest
from datasets import ClassLabel, Dataset, Features, Value
from datasets import Image as ImageFeature
from PIL import Image

from fieldtune.config import DataConfig
from fieldtune.datasets_builders.hub_images import looks_like_hub_id
from fieldtune.datasets_builders.image_folder import build_image_folder
from fieldtune.errors import DataError
from fieldtune.inputs.image_spec import ImageSpec
from fieldtune.inputs.images import decode_and_resize
from tests import hub_fixtures
from tests.hub_server import USER

hub_env, hub_server = hub_fixtures.hub_env, hub_fixtures.hub_server


def _png(colour: tuple[int, int, int], mode: str = "RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, (10, 6), colour[: len(mode)]).save(buf, format="PNG")
    return buf.getvalue()


def push_image_dataset(tmp_path, label_feature, labels, image_column="picture") -> str:
    """A dataset repo laid out as `datasets.push_to_hub` writes it: data/<split>-*.parquet."""
    from huggingface_hub import HfApi

    repo_id = f"{USER}/photos-{uuid.uuid4().hex[:8]}"
    features = Features({image_column: ImageFeature(), "kind": label_feature})
    modes = ["RGB", "L", "RGBA"]
    rows = {
        image_column: [
            {"bytes": _png((30 * i, 200, 9), modes[i % 3]), "path": None} for i in range(len(labels))
        ],
        "kind": labels,
    }
    data = tmp_path / "repo" / "data"
    data.mkdir(parents=True)
    Dataset.from_dict(rows, features=features).to_parquet(str(data / "train-00000-of-00001.parquet"))
    api = HfApi()
    api.create_repo(repo_id, repo_type="dataset")
    api.upload_folder(folder_path=tmp_path / "repo", repo_id=repo_id, repo_type="dataset")
    return repo_id


@pytest.mark.parametrize("strings", [True, False], ids=["string-labels", "classlabel"])
def test_image_folder_reads_a_hub_dataset_id(hub_env, tmp_path, strings):
    kinds = ["crate", "barrel", "pallet"] * 6
    feature = Value("string") if strings else ClassLabel(names=["barrel", "crate", "pallet"])
    repo_id = push_image_dataset(tmp_path, feature, kinds)
    cfg = DataConfig(
        builder="image_folder", path=repo_id, label_column="kind", validation_size=0.2, test_size=0.2
    )
    dd = build_image_folder(cfg, "image-classification")
    assert set(dd) == {"train", "validation", "test"}
    assert sum(len(s) for s in dd.values()) == len(kinds)
    assert dd["train"].features["label"].names == ["barrel", "crate", "pallet"]
    assert dd["train"].features["image"].mode == "RGB"
    assert dd["test"][0]["image"].mode == "RGB"  # greyscale and RGBA rows come back as RGB
    counts = {n: dd["train"]["label"].count(i) for i, n in enumerate(dd["train"].features["label"].names)}
    assert max(counts.values()) - min(counts.values()) <= 1  # stratified: 6 of each class went in
    pixels = decode_and_resize(dd, ImageSpec(size=8, mean=(0.5,) * 3, std=(0.5,) * 3), tmp_path / "px")
    assert pixels["train"][0]["pixel_values"].shape == (3, 8, 8)  # the bytes decode like files do


def test_image_regression_reads_a_hub_datasets_numbers(hub_env, tmp_path):
    grades = [0.5 * i for i in range(12)]
    repo_id = push_image_dataset(tmp_path, Value("float64"), grades)
    cfg = DataConfig(
        builder="image_folder", path=repo_id, label_column="kind", validation_size=0.2, test_size=0.2
    )
    dd = build_image_folder(cfg, "image-regression")
    assert dd["train"].features["label"].dtype == "float32"
    assert sorted(v for s in dd.values() for v in s["label"]) == pytest.approx(grades)
    bad = push_image_dataset(tmp_path / "bad", Value("string"), ["1.5", "n/a"] * 3)
    with pytest.raises(DataError, match="row 2 of column 'kind' is 'n/a', not a number"):
        build_image_folder(
            DataConfig(builder="image_folder", path=bad, label_column="kind"), "image-regression"
        )


def test_hub_dataset_without_the_label_column_is_one_line(hub_env, tmp_path):
    repo_id = push_image_dataset(tmp_path, Value("string"), ["a", "b"] * 3)
    with pytest.raises(DataError, match="no column 'label'.*data.label_column"):
        build_image_folder(DataConfig(builder="image_folder", path=repo_id), "image-classification")


def test_a_missing_folder_is_not_taken_for_a_hub_id(tmp_path):
    assert looks_like_hub_id("my-org/rock-photos")
    assert not looks_like_hub_id("photos/train.csv") and not looks_like_hub_id("./photos/x")
    with pytest.raises(DataError, match="does not exist"):
        build_image_folder(
            DataConfig(builder="image_folder", path=str(tmp_path / "nope")), "image-classification"
        )


def test_a_hub_list_of_labels_column_becomes_label_sets(hub_env, tmp_path):
    from datasets import Sequence

    sets = [["hazmat", "wrap"], ["wrap"], [], ["hazmat"]] * 3
    repo_id = push_image_dataset(tmp_path, Sequence(Value("string")), sets)
    cfg = DataConfig(
        builder="image_folder", path=repo_id, label_column="kind", validation_size=0, test_size=0.25
    )
    dd = build_image_folder(cfg, "image-multilabel")
    assert dd["train"].features["label"].feature.names == ["hazmat", "wrap"]
    names = dd["train"].features["label"].feature.names
    got = sorted(tuple(names[i] for i in ids) for s in dd.values() for ids in s["label"])
    assert got == sorted(tuple(s) for s in sets)
