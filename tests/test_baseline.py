"""`fieldtune baseline`: the TF-IDF + linear model on exactly the recipe's split, as a run directory that
evaluate, predict, leaderboard and push accept; regression and multi-label variants; `method.name: baseline`."""

from __future__ import annotations

import json
import random

import pandas as pd
import pytest
import yaml

from fieldtune.cli import main
from fieldtune.config import config_from_dict, load_config
from fieldtune.datasets_builders import build_dataset
from fieldtune.inference.evaluate import evaluate_model
from fieldtune.leaderboard import build_leaderboard
from fieldtune.training.run import run, run_baseline


def write_recipe(path, tiny_bert, data, task="text-classification", **sections):
    recipe = {"task": task, "name": "hs", "model": {"name_or_path": str(tiny_bert)}, "data": data, **sections}
    path.write_text(yaml.safe_dump(recipe))
    return path


@pytest.fixture(scope="module")
def hs_recipe(tiny_bert, hs_table, tmp_path_factory):
    data = {"builder": "hs_codes", "path": str(hs_table), "label_column": "section", "validation_size": 0.0,
            "test_size": 0.3, "seed": 0}  # fmt: skip
    return write_recipe(
        tmp_path_factory.mktemp("recipe") / "hs.yaml", tiny_bert, data, training={"class_weights": "balanced"}
    )


@pytest.fixture(scope="module")
def baseline_run(hs_recipe, tmp_path_factory):
    out = tmp_path_factory.mktemp("baseline") / "run"
    assert main(["baseline", str(hs_recipe), "--output-dir", str(out)]) == 0
    return out


def test_baseline_writes_the_run_contract_on_the_recipes_own_split(baseline_run, hs_recipe):
    names = {p.name for p in baseline_run.iterdir()}
    assert {"config.yaml", "eval_results.json", "predictions.csv", "plots", "README.md", "model"} <= names
    assert not (baseline_run / ".incomplete").exists()
    results = json.loads((baseline_run / "eval_results.json").read_text())
    assert (
        results["method"] == "baseline"
        and "LinearSVC (C=1, class weights balanced)" in results["baseline"]["model"]
    )
    assert {"accuracy", "f1_macro", "precision_macro", "recall_macro", "per_class"} <= set(results["metrics"])
    assert results["metrics"]["accuracy"] > 0.8  # the three sections have disjoint vocabularies
    low, high = results["confidence_intervals"]["metrics"]["f1_macro"]
    assert low <= results["metrics"]["f1_macro"] <= high
    # the same rows `fieldtune train` would test on: same builder, seed and split sizes
    test = build_dataset(load_config(hs_recipe).data, "text-classification")["test"]
    assert pd.read_csv(baseline_run / "predictions.csv")["text"].tolist() == test["text"]
    card = (baseline_run / "README.md").read_text()
    assert "library_name: sklearn" in card and "not a transformers model" in card and "baseline" in card
    assert (baseline_run / "plots" / "confusion_matrix.png").is_file()


def test_evaluate_predict_and_leaderboard_accept_a_baseline(baseline_run, capsys):
    results = json.loads((baseline_run / "eval_results.json").read_text())
    scored = evaluate_model(str(baseline_run), None)
    assert scored["metrics"]["f1_macro"] == pytest.approx(results["metrics"]["f1_macro"])
    assert scored["confidence_intervals"]["metrics"] == results["confidence_intervals"]["metrics"]
    assert main(["predict", str(baseline_run), "--text", "copper wire grade 3", "--top-k", "2"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0] == "text,label,score,label_2,score_2" and out[1].split(",")[1] == "XV"
    boards, text = build_leaderboard([baseline_run], [])
    assert boards[0].rows[0].entry.baseline and "baseline" in text and "95% CI" in text


def test_method_baseline_in_a_recipe_and_regression(tiny_bert, demand_csv, tmp_path):
    config = config_from_dict(
        {"task": "text-regression", "name": "qty", "model": {"name_or_path": str(tiny_bert)},
         "data": {"builder": "text_table", "path": str(demand_csv), "text_columns": ["note"],
                  "label_column": "demand_quantity"},
         "method": {"name": "baseline"}, "baseline": {"alpha": 0.5}}
    )  # fmt: skip
    result = run(config, output_dir=tmp_path / "qty")
    assert "Ridge (alpha=0.5)" in result.results["baseline"]["model"]
    assert {"mae", "rmse", "r2"} <= set(result.results["metrics"])
    assert set(result.results["confidence_intervals"]["metrics"]) >= {"rmse", "mae"}
    assert (tmp_path / "qty" / "plots" / "predicted_vs_true.png").is_file()
    assert evaluate_model(str(tmp_path / "qty"), None)["metrics"]["rmse"] == pytest.approx(
        result.results["metrics"]["rmse"], rel=1e-4
    )
    again = run(config, output_dir=tmp_path / "qty", resume=True)  # a sweep resuming the trial: fitted again
    assert again.results["metrics"] == result.results["metrics"]


@pytest.mark.slow
def test_image_baseline_is_the_feature_cached_probe(tmp_path):
    from tests.test_train_vision import tiny_vision, vision_config

    vit = tiny_vision(tmp_path / "vit", "vit")
    config = vision_config(vit, "baseline")
    result = run(config, output_dir=tmp_path / "probe")
    assert result.results["method"] == "probe" and result.results["baseline"]["kind"] == "probe"
    assert result.results["trainable_params"] < result.results["total_params"]  # the backbone stayed frozen
    assert "f1_macro" in result.results["confidence_intervals"]["metrics"]
    [board], _ = build_leaderboard([tmp_path / "probe"], [])
    assert board.rows[0].entry.baseline == f"linear probe on frozen {vit} features"


def test_multilabel_baseline_one_model_per_label(tiny_bert, tmp_path):
    rng = random.Random(0)
    rows = []
    for _ in range(150):
        tags = sorted(t for t in ("bulky", "cold", "urgent") if rng.random() < 0.4)
        words = rng.sample(["crate", "pallet", "truck", "depot", "order", "route", "parcel"], 3) + tags
        rows.append({"note": " ".join(words), "tags": ";".join(tags)})
    pd.DataFrame(rows).to_csv(tmp_path / "tags.csv", index=False)
    config = config_from_dict(
        {"task": "text-multilabel", "name": "tags", "model": {"name_or_path": str(tiny_bert)},
         "data": {"builder": "text_table", "path": str(tmp_path / "tags.csv"), "text_columns": ["note"],
                  "label_column": "tags"},
         "training": {"class_weights": "balanced"}}
    )  # fmt: skip
    result = run_baseline(config, output_dir=tmp_path / "run")  # what `fieldtune baseline` calls
    assert "one LinearSVC" in result.results["baseline"]["model"]
    assert result.results["metrics"]["f1_macro"] > 0.9  # each tag is its own word
    assert "f1_micro" in result.results["confidence_intervals"]["metrics"]


def test_baseline_records_the_text_encoding_in_results_log_and_card(tiny_bert, tmp_path, caplog):
    """As a fine-tuned run does (issue 29, item 11): the encoding each data file was read with."""
    from tests.helpers import write_demand_csv

    orders = tmp_path / "orders-utf16.csv"
    orders.write_bytes(write_demand_csv(tmp_path / "orders.csv", n=60).read_text().encode("utf-16"))
    data = {"path": str(orders), "text_columns": ["note"], "label_column": "demand_level"}
    recipe = write_recipe(tmp_path / "r.yaml", tiny_bert, data)
    caplog.set_level("INFO")
    assert main(["baseline", str(recipe), "--output-dir", str(tmp_path / "run")]) == 0
    results = json.loads((tmp_path / "run" / "eval_results.json").read_text())
    assert results["encodings"] == {str(orders): "utf-16"}
    assert "Data files read as utf-16 (1 files)" in caplog.text
    assert "- Encoding of the data files: utf-16" in (tmp_path / "run" / "README.md").read_text()


def test_baseline_predicts_with_the_normalisation_it_was_trained_with(tiny_bert, tmp_path):
    """Chinese notes are NFKC-normalised for training (`data.normalize: auto`); predict on the baseline
    must normalise its inputs the same way, as it does for a fine-tuned model (and as the card says)."""
    import numpy as np

    from fieldtune.datasets_builders.logistics_demand import generate
    from fieldtune.inference.load import load_for_inference, predict_logits, text_batches

    orders = tmp_path / "orders.csv"
    generate(60, 3, "zh").to_csv(orders, index=False)
    data = {"path": str(orders), "text_columns": ["note"], "label_column": "demand_level"}
    recipe = write_recipe(tmp_path / "r.yaml", tiny_bert, data)
    assert main(["baseline", str(recipe), "--output-dir", str(tmp_path / "run")]) == 0
    assert json.loads((tmp_path / "run" / "eval_results.json").read_text())["normalization"]["mode"] == "nfkc"
    loaded = load_for_inference(tmp_path / "run")
    full, plain = predict_logits(loaded, text_batches(loaded, ["２个托盘，急件", "2个托盘,急件"]))
    assert np.allclose(full, plain)
