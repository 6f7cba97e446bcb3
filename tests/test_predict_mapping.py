"""What `predict` reads and keeps (issue 33, item 4): the text columns a model was trained on travel in its
config.json, so a run, its bare model/ folder, a merged and an ONNX export all read the same columns with
no --text-column; the input's other columns stay in the output; a glob is predicted in sorted order."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from fieldtune.cli import main
from fieldtune.config import config_from_dict
from fieldtune.training.run import run
from tests.helpers import write_demand_csv
from tests.test_batch_predict import _images, image_model  # noqa: F401  (a module fixture, found by name)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def two_column_run(tiny_bert, tmp_path_factory):
    """A LoRA run reading two columns of a table (joined with ' | ' in training)."""
    root = tmp_path_factory.mktemp("mapping")
    data = write_demand_csv(root / "orders.csv", n=60)
    config = config_from_dict({
        "task": "text-classification", "name": "two",
        "model": {"name_or_path": str(tiny_bert), "max_length": 48},
        "data": {"builder": "text_table", "path": str(data), "text_columns": ["note", "order_id"],
                 "label_column": "demand_level", "allow_unknown_tokens": True},
        "method": {"name": "lora", "lora_r": 4},
        "training": {"max_steps": 2, "per_device_train_batch_size": 8, "learning_rate": 1e-2},
    })  # fmt: skip
    return run(config, output_dir=root / "run").run_dir


def test_every_saved_form_reads_the_trained_columns_and_keeps_the_others(two_column_run, tmp_path):
    config = json.loads((two_column_run / "model" / "config.json").read_text())
    assert config["fieldtune_text_columns"] == ["note", "order_id"]
    refs = {"run": two_column_run, "bare": tmp_path / "bare"}
    shutil.copytree(two_column_run / "model", refs["bare"])
    for kind, flags in (("merged", ["--merge"]), ("onnx", ["--format", "onnx"])):
        refs[kind] = tmp_path / kind
        assert main(["export", str(two_column_run), *flags, "--out", str(refs[kind])]) == 0
    orders = write_demand_csv(tmp_path / "new.csv", n=8, seed=11)
    frame = pd.read_csv(orders, dtype=str)
    frame.insert(0, "id", [f"row-{i:02d}" for i in range(8)])
    frame["score"] = "kept"  # a column named like a prediction column: kept as input_score
    frame.to_csv(orders, index=False)
    outputs = {}
    for kind, ref in refs.items():
        out = tmp_path / f"{kind}.csv"
        assert main(["predict", str(ref), "--input", str(orders), "--output", str(out)]) == 0, kind
        outputs[kind] = pd.read_csv(out, dtype={"id": str, "order_id": str})
    first = outputs["run"]
    assert list(first.columns) == [
        "id",
        "demand_quantity",
        "demand_level",
        "input_score",
        "text",
        "label",
        "score",
    ]
    assert list(first["id"]) == list(frame["id"]) and set(first["input_score"]) == {"kept"}
    assert first["text"][0] == f"{frame['note'][0]} | {frame['order_id'][0]}"  # joined as training joins
    for kind, other in outputs.items():
        assert list(other.columns) == list(first.columns) and list(other["label"]) == list(first["label"]), (
            kind
        )
        np.testing.assert_allclose(other["score"], first["score"], atol=1e-4, err_msg=kind)
    one = tmp_path / "one.csv"
    assert main(["predict", str(refs["bare"]), "--text", first["text"][0], "--output", str(one)]) == 0
    assert pd.read_csv(one)["score"][0] == pytest.approx(first["score"][0], abs=1e-5)


def test_a_glob_is_predicted_in_sorted_order(image_model, tmp_path):  # noqa: F811
    folder = _images(tmp_path / "photos", 30)
    out = tmp_path / "preds.csv"
    assert (
        main(["predict", str(image_model), "--input", str(folder / "*" / "*.png"), "--output", str(out)]) == 0
    )
    files = list(pd.read_csv(out)["file"])
    assert len(files) == 30 and files == sorted(files)
