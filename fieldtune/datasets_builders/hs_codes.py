"""`hs_codes`: Harmonized System goods descriptions -> section (21 classes) or chapter (97 classes).

Reads the WCO nomenclature as published by `datasets/harmonized-system` (`harmonized-system.csv`):
six-digit rows (`level == 6`), every column as a string (codes keep leading zeros), `TOTAL` dropped.
"""

from __future__ import annotations

from pathlib import Path

from datasets import DatasetDict

from fieldtune.config import DataConfig
from fieldtune.datasets_builders.registry import register_builder
from fieldtune.datasets_builders.tables import read_table, require_columns
from fieldtune.datasets_builders.text_table import frames_to_dataset
from fieldtune.errors import ConfigError, DataError


@register_builder("hs_codes")
def build_hs_codes(config: DataConfig, task: str) -> DatasetDict:
    """Goods descriptions -> `section` (default) or `chapter` (`data.label_column: chapter`)."""
    if not config.path:
        raise ConfigError("`data.path` is required for hs_codes: the folder or harmonized-system.csv file.")
    path = Path(config.path).expanduser()
    csv_path = path / "harmonized-system.csv" if path.is_dir() else path
    df = read_table(csv_path, config.delimiter, config.encoding)
    require_columns(df, ["section", "hscode", "description", "level"], str(csv_path), "hs_codes")
    df = df[(df["level"] == "6") & (df["section"] != "TOTAL")].copy()
    if df.empty:
        raise DataError(f"{csv_path} has no six-digit (level 6) rows; is it the harmonized-system table?")
    label = config.label_column or "section"
    if label == "chapter":
        df["chapter"] = df["hscode"].str[:2]
    elif label not in df.columns:
        raise ConfigError(f"`data.label_column` for hs_codes is `section` or `chapter`, not {label!r}.")
    text_columns = config.text_columns or ["description"]
    return frames_to_dataset(
        {"train": df.reset_index(drop=True)}, config, task, text_columns, label, str(csv_path)
    )
