"""`logistics_demand`: order / shipment notes -> demand level (class), demand quantity (number) or
handling tags (a set of labels: urgent, refrigerated, oversized, fragile, hazardous, customs).

Without `data.path` it generates the embedded demo data: deterministic notes whose quantity follows
from what the note says (volume, customer, urgency, season), so the label is learnable from the text.
For a multi-label task the notes also carry handling instructions (a second random stream, so the notes
without tags stay exactly as they were), and each tag follows from the product or an instruction.
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
from fieldtune.errors import ConfigError
from fieldtune.tasks.table import get_task

TEXT_COLUMN, LEVEL_COLUMN, QUANTITY_COLUMN, TAGS_COLUMN = "note", "demand_level", "demand_quantity", "tags"
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


# tag -> (how often an instruction states it, its phrasings); some products and urgencies imply a tag too
TAG_CUES = {
    "urgent": (0.15, ["Rush order.", "Deliver within 24 hours.", "Expedite: the customer is waiting."]),
    "refrigerated": (0.15, ["Keep at 2-8 C.", "Reefer container required.", "Cold chain, do not break it."]),
    "oversized": (0.15, ["Load exceeds standard pallet size.", "Wide load, escort needed.", "Over-height items on a flatbed."]),
    "fragile": (0.15, ["Handle with care.", "Glass inside, do not stack.", "Contents break easily."]),
    "hazardous": (0.12, ["Flammable, UN1203 labels.", "Dangerous goods class 8.", "Hazmat paperwork attached."]),
    "customs": (0.2, ["Cross-border shipment, customs declaration pending.", "Import duties unpaid; clear at the port.", "Needs an export licence."]),
}  # fmt: skip
IMPLIED_TAGS = {
    "frozen fish": "refrigerated", "engine oil": "hazardous", "LED bulbs": "fragile",
    "spare conveyor belts": "oversized", "urgent, line stoppage risk": "urgent",
}  # fmt: skip


def _handling(rng: random.Random, product: str, urgency: str) -> tuple[str, list[str]]:
    """Handling instructions to append to a note, and the note's tags."""
    tags = {IMPLIED_TAGS[k] for k in (product, urgency) if k in IMPLIED_TAGS}
    cues = []
    for tag, (rate, phrases) in TAG_CUES.items():
        if rng.random() < rate:
            tags.add(tag)
            cues.append(rng.choice(phrases))
    rng.shuffle(cues)
    return " ".join(cues), sorted(tags)


def demand_level(quantity: float) -> str:
    return next(name for name, upper in LEVELS if quantity < upper)


def draw_order(
    rng: random.Random, volumes: dict, customers: dict, urgency: dict, season: dict
) -> tuple[str, str, str, str, float]:
    """One order's volume, customer, urgency and season phrases (in any language: phrase -> base units or
    multiplier) and the quantity they imply, with a little noise the text cannot explain."""
    v, c = rng.choice(list(volumes)), rng.choice(list(customers))
    u, s = rng.choice(list(urgency)), rng.choice(list(season))
    quantity = volumes[v] * customers[c] * urgency[u] * season[s]
    return v, c, u, s, round(quantity * math.exp(rng.gauss(0, 0.1)), 1)


def generate_logistics_demand(n: int = 600, seed: int = 0, tags: bool = False) -> pd.DataFrame:
    """Deterministic synthetic order notes with `demand_quantity` and `demand_level`; with `tags`, the notes
    end in handling instructions and a `tags` column holds their labels joined by `;` (empty: none)."""
    rng = random.Random(seed)
    tag_rng = random.Random(f"tags-{seed}")  # its own stream: the draws of `rng` stay as without tags
    rows = []
    for i in range(n):
        volume, customer, urgency, season, quantity = draw_order(rng, VOLUMES, CUSTOMERS, URGENCY, SEASON)
        template, region, product = rng.choice(TEMPLATES), rng.choice(REGIONS), rng.choice(PRODUCTS)
        note = template.format(
            customer=customer, customer_cap=customer[0].upper() + customer[1:], region=region,
            product=product, volume=volume, urgency=urgency, season=season,
            season_cap=season[0].upper() + season[1:],
        )  # fmt: skip
        row = {"order_id": f"ORD-{seed:02d}-{i:05d}", TEXT_COLUMN: note}
        row |= {QUANTITY_COLUMN: quantity, LEVEL_COLUMN: demand_level(quantity)}
        if tags:
            handling, labels = _handling(tag_rng, product, urgency)
            row[TEXT_COLUMN] = f"{note} {handling}".strip()
            row[TAGS_COLUMN] = ";".join(labels)
        rows.append(row)
    return pd.DataFrame(rows)


def generate(n: int, seed: int, language: str = "en", tags: bool = False) -> pd.DataFrame:
    """The English notes, or the Chinese ones (`logistics_demand_zh.py`) for `language="zh"`."""
    if language != "zh":
        return generate_logistics_demand(n, seed, tags)
    if tags:
        raise ConfigError(
            "The Chinese notes (`data.language: zh`) have no tags yet; use English notes or your own table "
            "with `data.path`."
        )
    import fieldtune.datasets_builders.logistics_demand_zh as zh

    rng, rows = random.Random(seed), []
    for i in range(n):
        volume, customer, urgency, season, quantity = draw_order(
            rng, zh.VOLUMES, zh.CUSTOMERS, zh.URGENCY, zh.SEASON
        )
        rows.append(
            {
                "order_id": f"ORD-{seed:02d}-{i:05d}",
                TEXT_COLUMN: zh.note(rng, volume, customer, urgency, season),
                QUANTITY_COLUMN: quantity,
                LEVEL_COLUMN: zh.LEVEL_NAMES[demand_level(quantity)],
            }
        )
    return pd.DataFrame(rows)


def write_logistics_demand(
    out: Path, n: int = 600, seed: int = 0, tags: bool = False, language: str = "en"
) -> Path:
    """Write the synthetic table as CSV (for `fieldtune data` and for users to look at). Chinese notes get
    a UTF-8 byte-order mark: without it Excel opens a UTF-8 CSV as the system's code page (GBK: mojibake)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    encoding = "utf-8-sig" if language == "zh" else "utf-8"
    generate(n, seed, language, tags).to_csv(out, index=False, encoding=encoding)
    return out


@register_builder("logistics_demand")
def build_logistics_demand(config: DataConfig, task: str) -> DatasetDict:
    """Order notes -> `demand_level` (classification), `demand_quantity` (regression) or `tags` (multi-label);
    generated if no path."""
    spec = get_task(task)
    tags = spec.targets.label_sets
    if config.path:
        frames = load_tables(config.path, config.delimiter, config.encoding)
        source = config.path
    else:
        frames = {"train": generate(config.num_samples, config.seed, config.language, tags)}
        source = f"synthetic logistics_demand (n={config.num_samples}, seed={config.seed}, {config.language})"
    if tags:
        default_label = TAGS_COLUMN
    elif not spec.targets.named or config.threshold is not None:
        default_label = QUANTITY_COLUMN
    else:
        default_label = LEVEL_COLUMN
    return frames_to_dataset(
        frames,
        config,
        task,
        config.text_columns or [TEXT_COLUMN],
        config.label_column or default_label,
        source,
    )
