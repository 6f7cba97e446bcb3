"""`logistics_demand`: order / shipment notes -> demand level (class) or demand quantity (number).

Without `data.path` it generates the embedded demo data: deterministic notes whose quantity follows
from what the note says (volume, customer, urgency, season), so the label is learnable from the text.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

import pandas as pd
from datasets import DatasetDict

from fieldtune.config import DataConfig
from fieldtune.datasets_builders.registry import register_builder
from fieldtune.datasets_builders.tables import load_tables
from fieldtune.datasets_builders.text_table import frames_to_dataset
from fieldtune.tasks import get_task

TEXT_COLUMN, LEVEL_COLUMN, QUANTITY_COLUMN = "note", "demand_level", "demand_quantity"
LEVELS = (("low", 40.0), ("medium", 160.0), ("high", math.inf))  # upper bounds of demand_quantity (units)

# phrase -> base units, or multiplier on them
VOLUMES = {
    "a handful of cartons": 6,
    "a few boxes": 12,
    "one pallet": 30,
    "two pallets": 60,
    "half a truckload": 110,
    "a full truckload": 220,
    "several containers": 600,
}
CUSTOMERS = {
    "a corner shop": 0.5,
    "a pharmacy chain": 0.9,
    "a regional distributor": 1.5,
    "a construction site": 1.2,
    "a national retailer": 2.5,
}
URGENCY = {
    "no rush": 0.8,
    "standard delivery": 1.0,
    "needed this week": 1.15,
    "urgent, line stoppage risk": 1.3,
}
SEASON = {"off-season lull": 0.7, "normal week": 1.0, "ahead of peak season": 1.5}
PRODUCTS = [
    "bottled water",
    "cement bags",
    "spare conveyor belts",
    "printer paper",
    "frozen fish",
    "engine oil",
    "LED bulbs",
    "canned tomatoes",
    "safety helmets",
    "hydraulic hoses",
    "rice sacks",
    "diapers",
]
REGIONS = ["North", "South", "East", "West", "Central", "Coastal", "Mountain"]
TEMPLATES = [
    "Restock request from {customer} in the {region} region: {product}, {volume}. {urgency}; {season}.",
    "{customer_cap} ({region}) orders {product} - {volume}, {urgency}. Note: {season}.",
    "Shipment note: {volume} of {product} for {customer}, {region} depot. {season_cap}, {urgency}.",
    "Please book {volume} of {product}. Customer: {customer}, {region}. Priority: {urgency}. Context: {season}.",
]  # fmt: skip


def demand_level(quantity: float) -> str:
    return next(name for name, upper in LEVELS if quantity < upper)


def generate_logistics_demand(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """Deterministic synthetic order notes with `demand_quantity` and `demand_level`."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        volume, customer = rng.choice(list(VOLUMES)), rng.choice(list(CUSTOMERS))
        urgency, season = rng.choice(list(URGENCY)), rng.choice(list(SEASON))
        quantity = VOLUMES[volume] * CUSTOMERS[customer] * URGENCY[urgency] * SEASON[season]
        quantity = round(quantity * math.exp(rng.gauss(0, 0.1)), 1)  # a little noise the text cannot explain
        note = rng.choice(TEMPLATES).format(
            customer=customer, customer_cap=customer[0].upper() + customer[1:], region=rng.choice(REGIONS),
            product=rng.choice(PRODUCTS), volume=volume, urgency=urgency, season=season,
            season_cap=season[0].upper() + season[1:],
        )  # fmt: skip
        rows.append(
            {
                "order_id": f"ORD-{seed:02d}-{i:05d}",
                TEXT_COLUMN: note,
                QUANTITY_COLUMN: quantity,
                LEVEL_COLUMN: demand_level(quantity),
            }
        )
    return pd.DataFrame(rows)


def generate(n: int, seed: int, language: str = "en") -> pd.DataFrame:
    """The English notes, or the Chinese ones (`logistics_demand_zh.py`) for `language="zh"`."""
    if language != "zh":
        return generate_logistics_demand(n, seed)
    from fieldtune.datasets_builders.logistics_demand_zh import LEVEL_NAMES, notes_zh

    rows = [
        {
            "order_id": f"ORD-{seed:02d}-{i:05d}",
            TEXT_COLUMN: note,
            QUANTITY_COLUMN: quantity,
            LEVEL_COLUMN: LEVEL_NAMES[demand_level(quantity)],
        }
        for i, (note, quantity) in enumerate(notes_zh(n, seed))
    ]
    return pd.DataFrame(rows)


def write_logistics_demand(out: Path, n: int = 600, seed: int = 0, language: str = "en") -> Path:
    """Write the synthetic table as CSV (for `fieldtune data` and for users to look at). Chinese notes get
    a UTF-8 byte-order mark: without it Excel opens a UTF-8 CSV as the system's code page (GBK: mojibake)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    encoding = "utf-8-sig" if language == "zh" else "utf-8"
    generate(n, seed, language).to_csv(out, index=False, encoding=encoding)
    return out


@register_builder("logistics_demand")
def build_logistics_demand(config: DataConfig, task: str) -> DatasetDict:
    """Order notes -> `demand_level` (classification) or `demand_quantity` (regression); generated if no path."""
    if config.path:
        frames = load_tables(config.path, config.delimiter, config.encoding)
        source = config.path
    else:
        frames = {"train": generate(config.num_samples, config.seed, config.language)}
        source = f"synthetic logistics_demand (n={config.num_samples}, seed={config.seed}, {config.language})"
    default_label = (
        QUANTITY_COLUMN
        if not get_task(task).is_classification or config.threshold is not None
        else LEVEL_COLUMN
    )
    return frames_to_dataset(
        frames,
        config,
        task,
        config.text_columns or [TEXT_COLUMN],
        config.label_column or default_label,
        source,
    )
