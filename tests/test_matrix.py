"""The matrix: every task of the task table x every method its config rules allow trains one step on a tiny
model and generated data, saves, reloads (`fieldtune predict RUN`) and predicts, as timm tests every model
of its registry. Parametrised from the tables themselves: a new task or method row is a new case at once,
and a task whose kind of data no writer below generates fails, naming what to add. (Whether the scores
reported are those of the saved model is tests/test_score_parity.py's part.)"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from fieldtune.cli import main
from fieldtune.config import config_from_dict
from fieldtune.errors import ConfigError
from fieldtune.inference.load import load_for_inference
from fieldtune.modeling.methods import METHODS
from fieldtune.tasks.table import TASKS, Task
from fieldtune.training.run import run
from tests.helpers import write_demand_csv
from tests.test_multilabel import vocab_words, write_tagged
from tests.test_multilabel_images import write_tagged_images
from tests.test_train_vision import tiny_vision

pytestmark = pytest.mark.slow

ROWS = 40  # train / validation / test carved from these: one optimizer step of the train split


# How to generate one kind of data: (folder, tiny text model) -> the recipe's data section and the inputs
# `fieldtune predict` reads (a .txt of texts, a folder of images).
Writer = Callable[[Path, Path], tuple[dict, Path]]


def _notes(label_column: str) -> Writer:
    def write(root: Path, tiny_bert: Path) -> tuple[dict, Path]:
        table = write_demand_csv(root / "orders.csv", n=ROWS)
        inputs = root / "texts.txt"
        inputs.write_text("\n".join(pd.read_csv(table)["note"][:5]) + "\n")
        section = {"builder": "text_table", "path": str(table), "text_columns": ["note"]}
        return {**section, "label_column": label_column}, inputs

    return write


def _tagged_notes(root: Path, tiny_bert: Path) -> tuple[dict, Path]:
    table = write_tagged(root / "notes.jsonl", vocab_words(tiny_bert), n=ROWS)
    inputs = root / "texts.txt"
    inputs.write_text(
        "\n".join(json.loads(line)["note"] for line in table.read_text().splitlines()[:5]) + "\n"
    )
    return {
        "builder": "text_table",
        "path": str(table),
        "text_columns": ["note"],
        "label_column": "tags",
    }, inputs


def _photos(label: Callable[[int], object]) -> Writer:
    """Photos listed in metadata.csv with `label(i)` (a class, or a number): brightness follows it."""

    def write(root: Path, tiny_bert: Path) -> tuple[dict, Path]:
        folder, inputs = root / "photos", root / "inputs"
        folder.mkdir()
        inputs.mkdir()
        rng = np.random.default_rng(0)
        rows = []
        for i in range(ROWS):
            pixels = rng.integers(0, 80, size=(32, 32, 3), dtype=np.uint8) + np.uint8(40 * (i % 4))
            Image.fromarray(pixels).save(folder / f"img_{i:02d}.png")
            if i < 4:
                Image.fromarray(pixels).save(inputs / f"img_{i:02d}.png")
            rows.append({"file_name": f"img_{i:02d}.png", "label": label(i)})
        pd.DataFrame(rows).to_csv(folder / "metadata.csv", index=False)
        return {"builder": "image_folder", "path": str(folder)}, inputs

    return write


def _tagged_photos(root: Path, tiny_bert: Path) -> tuple[dict, Path]:
    folder = write_tagged_images(root / "photos", n=ROWS)
    inputs = root / "inputs"
    inputs.mkdir()
    for image in sorted(folder.glob("*.png"))[:4]:
        (inputs / image.name).write_bytes(image.read_bytes())
    return {"builder": "image_folder", "path": str(folder)}, inputs


# (inputs, transformers' problem type) -> its generated data: what a new kind of task adds here
DATA: dict[tuple[str, str], Writer] = {
    ("text", "single_label_classification"): _notes("demand_level"),
    ("text", "regression"): _notes("demand_quantity"),
    ("text", "multi_label_classification"): _tagged_notes,
    ("image", "single_label_classification"): _photos(lambda i: "dark" if i % 4 < 2 else "light"),
    ("image", "regression"): _photos(lambda i: 0.5 + i % 4),
    ("image", "multi_label_classification"): _tagged_photos,
}


def recipe(task: Task, method: str, model: str, data: dict) -> dict:
    return {
        "task": task.name,
        "name": "matrix",
        "model": {"name_or_path": model, "max_length": 32},
        "data": {**data, "image_size": 32} if task.modality == "image" else data,
        "method": {"name": method, "lora_r": 2, "trainable_layers": 1, "probe_epochs": 0.5},
        "training": {
            "max_steps": 1, "num_train_epochs": 1, "per_device_train_batch_size": 64, "learning_rate": 1e-3,
            "seed": 0, "precision": "fp32",
        },
    }  # fmt: skip


def allowed(task: Task, method: str) -> bool:
    """What the config rules accept for this task (the method table's `inputs` among them)."""
    placeholder = {"builder": "text_table" if task.modality == "text" else "image_folder", "path": "data"}
    try:
        config_from_dict(recipe(task, method, "model", placeholder))
    except ConfigError:
        return False
    return True


CASES = [(name, method) for name, task in TASKS.items() for method in METHODS if allowed(task, method)]


def test_the_matrix_covers_every_task_and_method():
    assert {t for t, _ in CASES} == set(TASKS)
    assert {m for _, m in CASES} == set(METHODS)


@pytest.fixture(scope="module")
def vit(tmp_path_factory):
    return tiny_vision(tmp_path_factory.mktemp("vit"), "vit")


def check_predictions(task: Task, out: Path, n: int, label_names: list[str]) -> None:
    """One row per input, each a prediction of the task's kind: a number, a class, or a set of labels."""
    rows = pd.read_csv(out, keep_default_na=False, na_values=[])
    assert len(rows) == n, out
    if task.problem_type == "regression":
        assert np.isfinite(rows["value"].astype(float)).all()
    elif task.problem_type == "multi_label_classification":
        sets = [{x for x in str(p).split(";") if x} for p in rows["labels"]]
        assert all(s <= set(label_names) for s in sets), sets
    else:
        assert set(rows["label"].astype(str)) <= set(label_names) and rows["score"].between(0, 1).all()


@pytest.mark.parametrize(("task_name", "method"), CASES, ids=[f"{t}-{m}" for t, m in CASES])
def test_one_step_save_reload_predict(task_name, method, tiny_bert, vit, tmp_path):
    task = TASKS[task_name]
    write = DATA.get((task.modality, task.problem_type))
    assert write is not None, (
        f"{task_name}: no generated data for ({task.modality}, {task.problem_type}); add a writer to DATA in "
        "tests/test_matrix.py"
    )
    section, inputs = write(tmp_path, tiny_bert)
    model = tiny_bert if task.modality == "text" else vit
    result = run(config_from_dict(recipe(task, method, str(model), section)), output_dir=tmp_path / "run")
    results = json.loads((result.run_dir / "eval_results.json").read_text())
    assert results["task"] == task_name and results["metrics"][task.primary_metric] is not None

    out = tmp_path / "predictions.csv"
    assert main(["predict", str(result.run_dir), "--input", str(inputs), "--output", str(out)]) == 0
    n = len(inputs.read_text().splitlines()) if inputs.is_file() else len(list(inputs.iterdir()))
    check_predictions(task, out, n, load_for_inference(result.run_dir).label_names or [])
