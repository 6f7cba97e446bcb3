"""`fieldtune serve` answers every kind of target as `fieldtune predict` does: a multi-label LoRA run (label
sets decided by its tuned thresholds) and a regression model (a value in the data's units), through the
app in-process (Starlette's TestClient: the same routes and batcher, no socket). The server as a
subprocess over HTTP: tests/test_serve.py."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from fieldtune.inference.load import thresholds_of
from fieldtune.serving.app import ServeOptions, create_app
from fieldtune.serving.model import ServedModel
from tests.test_multilabel import vocab_words
from tests.test_serve import assert_same_rows, predicted

pytestmark = pytest.mark.slow


def _served(model, texts: list[str]) -> dict:
    served = ServedModel.load(str(model))
    with TestClient(create_app(served, ServeOptions(max_batch=8))) as client:
        response = client.post("/predict", json={"texts": texts})
        assert response.status_code == 200, response.text
        meta = client.get("/metadata").json()
    return response.json() | {"metadata": meta, "served": served}


def test_tag_run_label_sets_use_its_thresholds(tag_lora_run, tiny_bert, tmp_path):
    words = vocab_words(tiny_bert)
    texts = [f"{words[5]} {words[0]} {words[7]}", f"{words[1]} {words[2]} {words[9]}", words[20], words[0]]
    answer = _served(tag_lora_run.run_dir, texts)
    thresholds = thresholds_of(answer["served"].loaded)
    assert thresholds and any(abs(t - 0.5) > 1e-3 for t in thresholds)  # tuned: 0.5 would decide otherwise
    table = tmp_path / "notes.csv"
    pd.DataFrame({"note": texts}).to_csv(table, index=False)  # the run's text column
    expected = predicted(tag_lora_run.run_dir, table, tmp_path, top_k=1)
    assert_same_rows(answer["predictions"], expected)
    assert all("labels" in row for row in answer["predictions"])
    results = json.loads((tag_lora_run.run_dir / "eval_results.json").read_text())
    assert answer["metadata"]["metrics"] == results["metrics"]  # the run's test metrics
    assert answer["metadata"]["task"] == "text-multilabel"


def test_regression_values_in_data_units(tiny_bert, tmp_path):
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    folder = tmp_path / "regressor"
    config = BertConfig.from_pretrained(tiny_bert, num_labels=1, problem_type="regression")
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(folder)
    AutoTokenizer.from_pretrained(tiny_bert).save_pretrained(folder)
    texts = ["20 pallets of cement", "water", "steel bars to dock 4"]
    answer = _served(folder, texts)
    table = tmp_path / "orders.csv"
    pd.DataFrame({"text": texts}).to_csv(table, index=False)
    assert_same_rows(answer["predictions"], predicted(folder, table, tmp_path, top_k=1))
    assert [sorted(row) for row in answer["predictions"]] == [["value"]] * 3
    assert answer["metadata"]["labels"] is None
