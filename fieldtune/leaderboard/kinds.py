"""What kind of model an entry is, beside a plain fine-tuned one: a baseline (`fieldtune baseline`) or an
ensemble (a run with `ensemble.baseline_weight`, whose scores are the fine-tuned model mixed with a
baseline). Both are read from eval_results.json (a pushed run from its model card's metadata) and
shown in every board's `kind` column, so an ensemble's score is never read as the fine-tuned model's own."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fieldtune.config.recipe_paths import model_id


def baseline_of(results: dict[str, Any]) -> str | None:
    """The baseline's description, for a run of `fieldtune baseline`."""
    baseline = results.get("baseline")
    return baseline.get("model") if isinstance(baseline, dict) else None


def ensemble_of(results: dict[str, Any]) -> str | None:
    """`all-MiniLM-L6-v2 + TF-IDF LinearSVC (w 0.5)` for a run whose eval_results.json has an `ensemble`
    entry: the backbone, the baseline and the baseline's weight in the mix."""
    entry = results.get("ensemble")
    if not isinstance(entry, dict):
        return None
    base = Path(model_id(str(results.get("base_model") or "fine-tuned model")).rstrip("/")).name
    described = str(entry.get("baseline_model") or "baseline")
    # `word 1-2 + char_wb 2-5 TF-IDF + LinearSVC (C=1)` -> `TF-IDF LinearSVC`: the card has the details
    found = re.search(r"TF-IDF \+ (?:one )?(\w+)", described)
    baseline = f"TF-IDF {found.group(1)}" if found else described.split(" (")[0]
    weight = entry.get("baseline_weight")
    shown = f" (w {weight:g})" if isinstance(weight, (int, float)) else ""
    return f"{base} + {baseline}{shown}"


def kinds_of_card(card_data: Any, base_model: str | None) -> dict[str, str | None]:
    """`baseline_of` and `ensemble_of` for a Hub model card: fieldtune writes both into the card's own
    metadata (`fieldtune: {baseline: ..., ensemble: ...}`, `fieldtune.rundir.card.card_kinds`), as a
    model-index result has no field for them. A baseline pushed before that is known by its card's tags."""
    own = card_data.get("fieldtune")
    own = own if isinstance(own, dict) else {}
    tags = card_data.get("tags") or []
    tagged = "baseline" if "fieldtune" in tags and "baseline" in tags else None
    return {
        "baseline": baseline_of(own) or tagged,
        "ensemble": ensemble_of({"ensemble": own.get("ensemble"), "base_model": base_model}),
    }


def kind_of(entry: Any) -> str | None:
    """The `kind` cell of a leaderboard row: `baseline`, `ensemble: ...`, or None for a fine-tuned model."""
    if entry.ensemble:
        return f"ensemble: {entry.ensemble}"
    return "baseline" if entry.baseline else None
