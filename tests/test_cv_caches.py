"""The K folds of one cross-validation share the token, pixel and feature caches: every pooled train +
validation row is tokenised / decoded / run through the frozen backbone once for the whole CV (the test
split once too), and the CV summary is the same as when every fold prepares its own rows."""

from __future__ import annotations

import dataclasses
import json

import pytest

from fieldtune.config import config_from_dict
from fieldtune.datasets_builders import build_dataset
from fieldtune.datasets_builders.folds import pooled
from tests.test_cv import cv_config


def _metrics(cv_dir):
    return json.loads((cv_dir / "cv_results.json").read_text())["metrics"]


def _same_summary(a, b) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert a[name]["folds"] == pytest.approx(b[name]["folds"], abs=1e-6), name


def _per_fold_preparation(monkeypatch) -> None:
    """What main did before: each fold's run prepares its own train and validation rows."""
    import fieldtune.training.run

    monkeypatch.setattr(fieldtune.training.run, "fold_rows", lambda *a, **k: None)


@pytest.mark.slow
def test_the_folds_of_a_cv_tokenise_each_row_once(tiny_bert, demand_csv, tmp_path, monkeypatch):
    import fieldtune.inputs.text as text
    from fieldtune.cv import run_cv

    encode = text.encode_batch
    seen: list[str] = []

    def counting(tokenizer, texts, limit):
        seen.extend(texts)
        return encode(tokenizer, texts, limit)

    monkeypatch.setattr(text, "encode_batch", counting)
    monkeypatch.setenv("FIELDTUNE_CACHE", str(tmp_path / "cache-shared"))
    config = cv_config(tiny_bert, demand_csv, folds=3)
    shared = run_cv(config, output_dir=tmp_path / "shared")
    dd = build_dataset(config.data, config.task)
    assert len(seen) == len(pooled(dd)) + len(dd["test"])  # each row once, for the three folds together
    assert sorted(seen) == sorted(list(pooled(dd)["text"]) + list(dd["test"]["text"]))

    seen.clear()
    monkeypatch.setenv("FIELDTUNE_CACHE", str(tmp_path / "cache-cold"))
    _per_fold_preparation(monkeypatch)
    cold = run_cv(config, output_dir=tmp_path / "cold")
    assert len(seen) == 3 * len(pooled(dd)) + len(dd["test"])  # each fold its own train + validation rows
    _same_summary(_metrics(shared.cv_dir), _metrics(cold.cv_dir))


def _probe_cv(model_dir, folds: int = 3):
    from tests.test_train_vision import vision_config

    cfg = vision_config(
        model_dir, "probe", data={"num_samples": 48}, training={"precision": "fp32", "seed": 7}
    )
    return dataclasses.replace(cfg, cv=dataclasses.replace(cfg.cv, folds=folds))


@pytest.mark.slow
def test_the_folds_of_a_probe_cv_decode_and_extract_each_image_once(tmp_path, monkeypatch):
    import fieldtune.inputs.images as images
    import fieldtune.inputs.prepare_images as prepare_images
    import fieldtune.trainers.feature_probe as feature_probe
    import fieldtune.trainers.vision as vision
    from fieldtune.cv import run_cv
    from tests.test_train_vision import tiny_vision

    vit = tiny_vision(tmp_path / "vit", "vit")
    decode, extract = images.image_to_pixels, vision.VisionTrainer.pooled_features
    decoded, extracted = [], []

    def counting_decode(image, spec):
        decoded.append(1)
        return decode(image, spec)

    def counting_extract(self, dataset, desc="Extracting features"):
        extracted.append(len(dataset))
        return extract(self, dataset, desc)

    monkeypatch.setattr(images, "image_to_pixels", counting_decode)
    monkeypatch.setattr(prepare_images, "image_to_pixels", counting_decode)  # the predict path's decode
    monkeypatch.setattr(vision.VisionTrainer, "pooled_features", counting_extract)
    monkeypatch.setenv("FIELDTUNE_CACHE", str(tmp_path / "cache-shared"))
    config = _probe_cv(vit)
    shared = run_cv(config, output_dir=tmp_path / "shared")
    dd = build_dataset(config.data, config.task)
    n, n_test = len(pooled(dd)), len(dd["test"])
    # each pooled image decoded once and each test image once, for the folds' training, the out-of-fold
    # predictions and the ensemble on test together: the last two read the pixels the fold runs cached
    assert len(decoded) == n + n_test
    assert sum(extracted) == n  # each pooled image through the frozen backbone once, in whichever fold

    decoded.clear(), extracted.clear()
    monkeypatch.setenv("FIELDTUNE_CACHE", str(tmp_path / "cache-cold"))
    _per_fold_preparation(monkeypatch)  # and every split's features extracted whole, nothing looked up
    monkeypatch.setattr(
        feature_probe, "cached_features", lambda key, rows, compute, what: compute(list(range(len(rows))))
    )
    cold = run_cv(config, output_dir=tmp_path / "cold")
    assert len(decoded) >= 3 * n + n_test and sum(extracted) == 3 * n
    _same_summary(_metrics(shared.cv_dir), _metrics(cold.cv_dir))


def test_a_fold_run_prepares_its_splits_from_the_pooled_rows(tiny_bert, demand_csv):
    """`fold_rows`: the fold's train and validation are selections of the pooled rows (what is cached)."""
    from fieldtune.datasets_builders.folds import cv_split, fold_rows

    config = cv_config(tiny_bert, demand_csv, folds=3)
    dd = build_dataset(config.data, config.task)
    assert fold_rows(dd, config.cv, 5) is None  # the whole CV's recipe: no fold chosen yet
    one = dataclasses.replace(config.cv, fold=2)
    rows = fold_rows(dd, one, 5)
    split = cv_split(dd, one, 5)
    for name in ("train", "validation"):
        assert list(rows.rows.select(rows.index[name])["text"]) == list(split[name]["text"])
    assert "test" not in rows.index
    refit = fold_rows(dd, config_from_dict({**config.to_dict(), "cv": {"refit": True}}).cv, 5)
    assert list(refit.index) == ["train"] and len(refit.index["train"]) == len(pooled(dd))


def test_a_regression_fold_keeps_its_standardised_targets_beside_the_pooled_tokens(
    tiny_bert, demand_csv, tmp_path, monkeypatch
):
    """Text folds take their token columns from the pooled rows' cache and keep their own columns: a
    regression fold's targets standardised by its own train split, not the pooled raw numbers."""
    from fieldtune.datasets_builders.folds import cv_split, fold_rows
    from fieldtune.inputs.prepare import prepare_inputs
    from fieldtune.inputs.text import load_tokenizer
    from fieldtune.tasks.scoring import standardise
    from fieldtune.tasks.table import get_task

    monkeypatch.setenv("FIELDTUNE_CACHE", str(tmp_path / "cache"))
    tree = cv_config(tiny_bert, demand_csv).to_dict()
    tree["task"], tree["data"]["label_column"], tree["cv"] = (
        "text-regression",
        "demand_quantity",
        {"folds": 3, "fold": 1},
    )
    config = config_from_dict(tree)
    task, dd = get_task(config.task), build_dataset(config.data, config.task)
    pool = fold_rows(dd, config.cv, 5)
    fold, _ = standardise(cv_split(dd, config.cv, 5))
    prepared = prepare_inputs(task, fold, config, pool).dataset
    tokenizer = load_tokenizer(str(tiny_bert))
    for split in ("train", "validation", "test"):
        assert prepared[split]["label"] == pytest.approx(fold[split]["label"])
        assert prepared[split]["text"] == fold[split]["text"]
        ids = tokenizer(list(fold[split]["text"]), truncation=True, max_length=32)["input_ids"]
        assert [list(x) for x in prepared[split]["input_ids"]] == ids
    assert prepared["train"]["label"] != pytest.approx(list(pool.rows.select(pool.index["train"])["label"]))
