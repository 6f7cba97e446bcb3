"""Multi-label data in: one 0/1 column per label (`data.label_columns`), and the synthetic shipment tags."""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest

from fieldtune.cli import main
from fieldtune.config import config_from_dict
from fieldtune.datasets_builders import build_dataset
from fieldtune.datasets_builders.logistics_demand import (
    IMPLIED_TAGS,
    QUANTITY_COLUMN,
    TAG_CUES,
    generate_logistics_demand,
)
from fieldtune.errors import ConfigError


def columns_config(path, **data):
    return config_from_dict(
        {
            "task": "text-multilabel",
            "model": {"name_or_path": "x"},
            "data": {
                "path": str(path),
                "text_columns": ["note"],
                "validation_size": 0,
                "test_size": 0,
                **data,
            },
        }
    )


def test_one_flag_column_per_label_becomes_the_tag_feature(tmp_path, caplog):
    table = pd.DataFrame(
        {
            "note": ["frozen fish, rush", "glass panes", "steel bars", "chilled vaccines, fragile vials"],
            "urgent": [1, 0, 0, 1],
            "refrigerated": ["true", "False", "false", "TRUE"],
            "fragile": ["no", "yes", "no", "Yes"],
            "other": ["x", "y", "z", "w"],  # not a label column: ignored
        }
    )
    table.to_csv(tmp_path / "notes.csv", index=False)
    with caplog.at_level("WARNING"):
        dd = build_dataset(
            columns_config(tmp_path / "notes.csv", label_columns=["urgent", "refrigerated", "fragile"]).data,
            "text-multilabel",
        )
    names = dd["train"].features["label"].feature.names
    assert names == ["fragile", "refrigerated", "urgent"]  # the column names, sorted
    as_names = [sorted(names[i] for i in ids) for ids in dd["train"]["label"]]
    assert as_names == [["refrigerated", "urgent"], ["fragile"], [], ["fragile", "refrigerated", "urgent"]]
    assert "1 rows have no label" in caplog.text  # the steel bars: all-negative, kept and counted


def test_label_columns_is_checked_before_any_data_is_read(tmp_path):
    with pytest.raises(ConfigError, match="names 'urgent' twice"):
        columns_config(tmp_path / "none.csv", label_columns=["urgent", "urgent"])
    with pytest.raises(ConfigError, match="both name 'note'"):
        columns_config(tmp_path / "none.csv", label_columns=["urgent", "note"])
    with pytest.raises(ConfigError, match="one or more column names"):
        columns_config(tmp_path / "none.csv", label_columns=[])


# Digests of the CSV written by the generator before it could emit tags: without tags nothing changes.
UNTAGGED_SHA256 = {
    (600, 0): "3a185482365e1e542f6d3908d1c0cbd0f16033998ecf48f60e0739463e7ccc67",
    (50, 7): "a2a33f22dbf84672f27c4c14069faf7e2a8fe2c28557258435f328eca9139ff8",
}


def test_logistics_demand_without_tags_is_byte_identical():
    for (n, seed), digest in UNTAGGED_SHA256.items():
        csv = generate_logistics_demand(n, seed).to_csv(index=False).encode()
        assert hashlib.sha256(csv).hexdigest() == digest


def test_shipment_tags_follow_from_the_text():
    tagged, plain = generate_logistics_demand(400, 3, tags=True), generate_logistics_demand(400, 3)
    assert (tagged[QUANTITY_COLUMN] == plain[QUANTITY_COLUMN]).all()  # the same orders, instructions added
    assert all(t.startswith(p) for t, p in zip(tagged["note"], plain["note"], strict=True))
    per_note = tagged["tags"].map(lambda s: len(s.split(";")) if s else 0)
    assert per_note.max() >= 3 and 1.2 < per_note.mean() < 2.5  # several per note, some notes with none
    counts = {tag: tagged["tags"].str.split(";").map(lambda ts, t=tag: t in ts).mean() for tag in TAG_CUES}
    assert all(0.08 < share < 0.5 for share in counts.values()), counts
    for note, tags in zip(tagged["note"], tagged["tags"], strict=True):  # a cue in the note <=> the tag
        cued = {tag for tag, (_, phrases) in TAG_CUES.items() if any(p in note for p in phrases)}
        implied = {tag for cue, tag in IMPLIED_TAGS.items() if cue in note}
        assert set(filter(None, tags.split(";"))) == cued | implied, note


def test_a_multilabel_task_reads_the_tags_and_data_writes_them(tmp_path, capsys):
    config = config_from_dict(
        {"task": "text-multilabel", "model": {"name_or_path": "x"}, "data": {"builder": "logistics_demand", "num_samples": 200}}
    )  # fmt: skip
    dd = build_dataset(config.data, "text-multilabel")
    assert dd["train"].features["label"].feature.names == sorted(TAG_CUES)
    assert {s: len(dd[s]) for s in dd} == {"train": 140, "validation": 20, "test": 40}
    assert (
        main(["data", "logistics_demand", "--out", str(tmp_path / "t.csv"), "--num-samples", "30", "--tags"])
        == 0
    )
    assert "tags" in pd.read_csv(tmp_path / "t.csv").columns
    assert main(["data", "geology_images", "--out", str(tmp_path / "g"), "--tags"]) == 2
    assert "only logistics_demand has tags" in capsys.readouterr().err
