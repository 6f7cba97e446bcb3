"""Multi-label data in: one 0/1 column per label (`data.label_columns`), and the synthetic shipment tags."""

from __future__ import annotations

import pandas as pd
import pytest

from fieldtune.config import config_from_dict
from fieldtune.datasets_builders import build_dataset
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
