"""Text builders: tables in several formats, typed features, stratified seeded splits, one-line errors."""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import pytest
from datasets import ClassLabel, Value

from fieldtune.config import DataConfig
from fieldtune.datasets_builders import build_dataset, get_builder, register_builder
from fieldtune.datasets_builders.logistics_demand import generate_logistics_demand
from fieldtune.errors import ConfigError, DataError


def table(n=60, classes=("low", "high", "mid")):
    rng = np.random.default_rng(0)
    return pd.DataFrame({"note": [f"order {i} of {classes[i % len(classes)]} stuff" for i in range(n)],
                         "level": [classes[i % len(classes)] for i in range(n)],
                         "qty": rng.uniform(1, 100, n).round(2)})  # fmt: skip


@pytest.mark.parametrize("fmt", ["csv", "tsv", "semicolon", "jsonl", "parquet"])
def test_text_table_formats(tmp_path, fmt):
    df = table()
    path = tmp_path / f"data.{ {'semicolon': 'csv'}.get(fmt, fmt) }"
    if fmt == "csv":
        df.to_csv(path, index=False)
    elif fmt == "tsv":
        df.to_csv(path, index=False, sep="\t")
    elif fmt == "semicolon":
        df.to_csv(path, index=False, sep=";")
    elif fmt == "jsonl":
        df.to_json(path, orient="records", lines=True)
    else:
        df.to_parquet(path)
    dd = build_dataset(
        DataConfig(path=str(path), text_columns=["note"], label_column="level"), "text-classification"
    )
    assert set(dd) == {"train", "validation", "test"}
    assert isinstance(dd["train"].features["label"], ClassLabel)
    assert dd["train"].features["label"].names == ["high", "low", "mid"]
    assert sum(len(s) for s in dd.values()) == 60


def test_split_is_stratified_and_seeded(tmp_path):
    path = tmp_path / "d.csv"
    table(90).to_csv(path, index=False)
    cfg = DataConfig(
        path=str(path),
        text_columns=["note"],
        label_column="level",
        test_size=0.2,
        validation_size=0.1,
        seed=5,
    )
    a = build_dataset(cfg, "text-classification")
    b = build_dataset(cfg, "text-classification")
    assert a["test"]["text"] == b["test"]["text"]
    assert len(a["test"]) == 18 and np.bincount(a["test"]["label"]).tolist() == [6, 6, 6]
    other = build_dataset(DataConfig(**{**cfg.__dict__, "seed": 6}), "text-classification")
    assert other["test"]["text"] != a["test"]["text"]


def test_regression_and_threshold(tmp_path):
    path = tmp_path / "d.csv"
    table().to_csv(path, index=False)
    dd = build_dataset(
        DataConfig(path=str(path), text_columns=["note"], label_column="qty"), "text-regression"
    )
    assert dd["train"].features["label"] == Value("float32")
    binary = build_dataset(
        DataConfig(path=str(path), text_columns=["note"], label_column="qty", threshold=50),
        "text-classification",
    )
    assert binary["train"].features["label"].names == ["high", "low"] or binary["train"].features[
        "label"
    ].names == ["low", "high"]


def test_folder_with_split_files_keeps_them(tmp_path):
    table(40).to_csv(tmp_path / "train.csv", index=False)
    table(12).to_csv(tmp_path / "test.csv", index=False)
    dd = build_dataset(
        DataConfig(path=str(tmp_path), text_columns=["note"], label_column="level"), "text-classification"
    )
    assert len(dd["test"]) == 12 and len(dd["train"]) + len(dd["validation"]) == 40


@pytest.mark.parametrize(
    ("content", "kwargs", "match"),
    [
        (None, {}, "does not exist"),
        ("", {}, "is empty"),
        ("note,level\n", {}, "no rows"),
        ("note,level\na,x\nb,x\nc,x\nd,x\ne,x\n", {}, "single class"),
        ("note,label\na,x\nb,y\n", {}, "'level'"),
        ("note;level\na;x\nb;y\n", {"delimiter": ","}, "delimiter"),
        ("note,qty\na,1\nb,nan\nc,3\n", {"label_column": "qty", "task": "text-regression"}, "finite"),
        ("note,qty\na,1\nb,lots\nc,3\n", {"label_column": "qty", "task": "text-regression"}, "not a number"),
        ("note,level\na,x\nb,\nc,y\n", {}, "have no 'level'"),
    ],
)
def test_bad_tables_raise_one_line(tmp_path, content, kwargs, match):
    path = tmp_path / "d.csv"
    if content is not None:
        path.write_text(content)
    task = kwargs.pop("task", "text-classification")
    cfg = DataConfig(
        path=str(path), text_columns=["note"], label_column=kwargs.pop("label_column", "level"), **kwargs
    )
    with pytest.raises(DataError, match=match) as e:
        build_dataset(cfg, task)
    assert "\n" not in str(e.value)


def test_non_utf8_file(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes("note,level\ncaf\xe9,x\n".encode("latin-1"))
    with pytest.raises(DataError, match="not UTF-8"):
        build_dataset(
            DataConfig(path=str(path), text_columns=["note"], label_column="level"), "text-classification"
        )


def test_class_only_in_test_split_is_an_error(tmp_path):
    table(30, ("a", "b")).to_csv(tmp_path / "train.csv", index=False)
    pd.DataFrame({"note": ["x", "y"], "level": ["a", "zzz"], "qty": [1, 2]}).to_csv(
        tmp_path / "test.csv", index=False
    )
    with pytest.raises(DataError, match="zzz"):
        build_dataset(
            DataConfig(path=str(tmp_path), text_columns=["note"], label_column="level"), "text-classification"
        )


def test_class_missing_from_validation_is_a_warning(tmp_path, caplog):
    table(30, ("a", "b")).to_csv(tmp_path / "train.csv", index=False)
    pd.DataFrame({"note": ["x", "y"], "level": ["a", "a"], "qty": [1, 2]}).to_csv(
        tmp_path / "validation.csv", index=False
    )
    with caplog.at_level(logging.WARNING):
        dd = build_dataset(
            DataConfig(path=str(tmp_path), text_columns=["note"], label_column="level"), "text-classification"
        )
    assert "absent from the validation split: b" in caplog.text
    assert len(dd["validation"]) == 2


def test_logistics_demand_is_deterministic_and_learnable():
    a, b = generate_logistics_demand(400, seed=0), generate_logistics_demand(400, seed=0)
    pd.testing.assert_frame_equal(a, b)
    assert set(a["demand_level"]) == {"low", "medium", "high"}
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    train, test = a.iloc[:300], a.iloc[300:]
    vec = TfidfVectorizer(ngram_range=(1, 3)).fit(train["note"])
    clf = LogisticRegression(max_iter=2000).fit(vec.transform(train["note"]), train["demand_level"])
    accuracy = (clf.predict(vec.transform(test["note"])) == test["demand_level"]).mean()
    shuffled = LogisticRegression(max_iter=2000).fit(
        vec.transform(train["note"]), train["demand_level"].sample(frac=1, random_state=0)
    )
    chance = (shuffled.predict(vec.transform(test["note"])) == test["demand_level"]).mean()
    assert accuracy > 0.7 and accuracy > chance + 0.25


def test_logistics_demand_builder_defaults():
    dd = build_dataset(DataConfig(builder="logistics_demand", num_samples=100), "text-regression")
    assert dd["train"].features["label"] == Value("float32")
    dd = build_dataset(DataConfig(builder="logistics_demand", num_samples=100), "text-classification")
    assert set(dd["train"].features["label"].names) == {"low", "medium", "high"}


def test_hs_codes_builder(hs_table):
    dd = build_dataset(
        DataConfig(builder="hs_codes", path=str(hs_table), validation_size=0.0), "text-classification"
    )
    assert dd["train"].features["label"].names == ["I", "II", "XV"]
    assert len(dd["train"]) + len(dd["test"]) == 36  # level 6 only, TOTAL dropped
    chapters = build_dataset(
        DataConfig(builder="hs_codes", path=str(hs_table), label_column="chapter", validation_size=0.0),
        "text-classification",
    )
    assert chapters["train"].features["label"].names == ["00", "01", "02"]  # leading zeros kept


def test_registry_checks_and_unknown_builder():
    with pytest.raises(ConfigError, match="did you mean `text_table`"):
        get_builder("text_tabel")
    with pytest.raises(ValueError, match="already registered"):
        register_builder("text_table")(lambda config, task: None)
    with pytest.raises(ValueError, match="must take"):
        register_builder("odd")(lambda config: None)


def test_a_builder_names_its_dataset(monkeypatch):
    """Runs are ranked per dataset name: a new builder reading the user's files names each file's runs apart
    (before, only text_table / image_folder could: every other builder's runs shared the builder's name)."""
    from fieldtune.datasets_builders import dataset_name, registry

    monkeypatch.setattr(registry, "_BUILDERS", dict(registry._BUILDERS))
    monkeypatch.setattr(registry, "_NAMINGS", dict(registry._NAMINGS))
    register_builder("test_sensor_logs", dataset_name=registry.named_by_path)(lambda config, task: None)
    register_builder("test_generator")(lambda config, task: None)

    def name(builder, path=None):
        return dataset_name(DataConfig(builder=builder, path=path))

    assert name("test_sensor_logs", "/data/pumps.csv") == name("test_sensor_logs", "pumps.parquet") == "pumps"
    assert name("test_sensor_logs", "/data/mill") == "mill"
    assert name("test_generator", "/data/pumps.csv") == "test_generator"  # a generator: its own name
    assert name("text_table", "orders.csv") == "orders"
    assert name("image_folder", "/data/rocks/") == "rocks"
    assert name("logistics_demand") == "logistics_demand"


def test_jsonl_with_multiple_text_columns(tmp_path):
    path = tmp_path / "d.jsonl"
    rows = [{"title": f"t{i}", "body": f"b{i}", "y": "ab"[i % 2]} for i in range(20)]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    dd = build_dataset(
        DataConfig(path=str(path), text_columns=["title", "body"], label_column="y"), "text-classification"
    )
    assert " | " in dd["train"][0]["text"]
