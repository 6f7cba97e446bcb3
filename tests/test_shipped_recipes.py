"""Every recipe shipped in configs/ passes the config checks (schema, value checks, the task x method rules)
as it stands: a recipe a user copies must not fail on a key we renamed. Model and data are not needed
(those are the preflight's checks, on the user's machine)."""

from pathlib import Path

import pytest

from fieldtune.config import load_config

REPO = Path(__file__).resolve().parents[1]
# configs/accelerate holds accelerate's own files, configs/benchmarks the leaderboard's benchmark specs
RECIPES = sorted(
    p for p in (REPO / "configs").rglob("*.yaml") if p.parent.name not in ("accelerate", "benchmarks")
)


def test_there_are_recipes_to_check() -> None:
    assert len(RECIPES) >= 20


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: str(p.relative_to(REPO / "configs")))
def test_a_shipped_recipe_loads(recipe: Path) -> None:
    config = load_config(str(recipe))
    assert config.task and config.model.name_or_path
