"""Inference reads the run's own `model.max_length`, not the checkpoint's tokenizer limit."""

from __future__ import annotations

import json

import pytest

from fieldtune.config import config_from_dict
from fieldtune.inference.load import load_for_inference, text_batches
from fieldtune.training.run import run

pytestmark = pytest.mark.slow
LONG = "please book two pallets of rice sacks for a corner shop in the north, urgent, before friday noon"


@pytest.fixture(scope="module")
def short_run(tiny_bert, tmp_path_factory):
    config = config_from_dict(
        {"task": "text-classification", "name": "t",
         "model": {"name_or_path": str(tiny_bert), "max_length": 8},
         "data": {"builder": "logistics_demand", "num_samples": 120, "seed": 0},
         "training": {"num_train_epochs": 2, "per_device_train_batch_size": 16, "learning_rate": 1e-3, "seed": 0}}
    )  # fmt: skip
    return run(config, output_dir=tmp_path_factory.mktemp("runs") / "short")


def test_evaluate_reads_the_runs_max_length(short_run, tmp_path):
    """The tiny tokenizer's limit is 64: before, evaluate cut texts at 64 tokens, the run at 8."""
    from fieldtune.cli import main

    run_dir = short_run.run_dir
    (batch,) = text_batches(load_for_inference(run_dir), [LONG])
    assert batch["input_ids"].shape[1] == 8
    saved = json.loads((run_dir / "model" / "tokenizer_config.json").read_text())
    assert saved["model_max_length"] == 8  # exports and Hub copies carry it
    out = tmp_path / "eval.json"
    assert main(["evaluate", str(run_dir), "--output", str(out)]) == 0
    again = json.loads(out.read_text())["metrics"]
    for name in ("accuracy", "f1_macro", "precision_macro", "recall_macro"):
        assert again[name] == pytest.approx(short_run.results["metrics"][name], abs=1e-9), name


def test_older_run_tokenizer_is_limited_by_its_config(short_run, tmp_path):
    """A run saved before its tokenizer carried the limit (512 in tokenizer_config.json) still reads 8."""
    import shutil

    old = tmp_path / "old"
    shutil.copytree(short_run.run_dir, old)
    path = old / "model" / "tokenizer_config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "model_max_length": 512}))
    (batch,) = text_batches(load_for_inference(old), [LONG])
    assert batch["input_ids"].shape[1] == 8
