"""Relative paths: a recipe's paths start from the recipe file (shipped recipes: from the repository), a
run directory records absolute paths, and `evaluate` / `predict` read a run from any working folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from fieldtune.cli import main
from fieldtune.config import load_config
from tests.helpers import write_demand_csv

REPOSITORY = Path(__file__).resolve().parents[1]


def _recipe(folder: Path, model: str, data_path: str, method: str = "full") -> Path:
    tree = {
        "task": "text-classification",
        "model": {"name_or_path": model, "max_length": 32},
        "data": {"builder": "text_table", "path": data_path, "text_columns": ["note"],
                 "label_column": "demand_level"},
        "method": {"name": method, "lora_r": 4},
        "training": {"max_steps": 2, "per_device_train_batch_size": 8},
    }  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "recipe.yaml"
    path.write_text(yaml.safe_dump(tree, sort_keys=False))
    return path


def test_recipe_paths_start_from_the_recipe_folder(tmp_path, monkeypatch):
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    write_demand_csv(project / "data" / "orders.csv")
    (project / "models" / "bert").mkdir(parents=True)
    recipe = _recipe(project, "models/bert", "data/orders.csv")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = load_config(recipe)
    assert config.data.path == str(project / "data" / "orders.csv")
    assert config.model.name_or_path == str(project / "models" / "bert")
    # a command-line path is the user's, typed in the working folder; a Hub id stays a Hub id
    config = load_config(recipe, ["--data.path=mine.csv", "--model.name_or_path=org/some-bert"])
    assert config.data.path == "mine.csv" and config.model.name_or_path == "org/some-bert"


def test_shipped_recipes_start_from_the_repository(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = load_config(REPOSITORY / "configs" / "demo" / "geology_vit_lora.yaml")
    assert config.model.name_or_path == str(REPOSITORY / "models" / "vit-tiny-patch16-224")
    assert (Path(config.model.name_or_path) / "config.json").is_file()
    hub = load_config(REPOSITORY / "configs" / "demo" / "logistics_demand_minilm_lora.yaml")
    assert hub.model.name_or_path == "sentence-transformers/all-MiniLM-L6-v2"


@pytest.mark.slow
def test_a_run_is_read_from_any_working_folder(tiny_bert, tmp_path, monkeypatch, capsys):
    """Relative data and (LoRA) base model paths typed in one folder; evaluate and predict from another."""
    work = tmp_path / "work"
    work.mkdir()
    write_demand_csv(work / "notes.csv", n=60)
    shutil.copytree(tiny_bert, work / "bert")
    recipe = _recipe(tmp_path / "recipes", "unused", "unused", method="lora")
    monkeypatch.chdir(work)
    argv = ["train", str(recipe), "--data.path=notes.csv", "--model.name_or_path=./bert",
            "--output-dir", str(tmp_path / "run")]  # fmt: skip
    assert main(argv) == 0
    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert saved["data"]["path"] == str(work / "notes.csv")
    adapter = json.loads((tmp_path / "run" / "model" / "adapter_config.json").read_text())
    assert adapter["base_model_name_or_path"] == str(work / "bert")
    reported = json.loads((tmp_path / "run" / "eval_results.json").read_text())["metrics"]

    monkeypatch.chdir(tmp_path / "recipes")
    out = tmp_path / "evaluated.json"
    assert main(["evaluate", str(tmp_path / "run"), "--output", str(out)]) == 0
    assert json.loads(out.read_text())["metrics"]["accuracy"] == pytest.approx(reported["accuracy"])
    assert main(["predict", str(tmp_path / "run"), "--text", "2 pallets of water"]) == 0
