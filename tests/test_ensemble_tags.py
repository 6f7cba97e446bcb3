"""`ensemble.baseline_weight` on label sets (issue 34): the tagger's logits mixed per label with the TF-IDF
baseline's Platt-calibrated log-odds, the weight chosen on validation, the thresholds tuned again on the
mix, and every loader of the saved run deciding exactly as the run was scored."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fieldtune.baselines.ensemble import ENSEMBLE_DIR
from fieldtune.baselines.ensemble_tags import mix_tags, platt_scaling, tag_log_odds
from fieldtune.baselines.tfidf import load_baseline
from fieldtune.datasets_builders import build_dataset
from fieldtune.inference.evaluate import evaluate_model
from fieldtune.inference.load import load_for_inference, predict_logits, split_batches
from fieldtune.targets import Tags
from fieldtune.training.run import run
from tests.test_multilabel import tag_config, vocab_words, write_tagged


@pytest.fixture(scope="module")
def tag_ensemble(tiny_bert, tmp_path_factory):
    data = write_tagged(tmp_path_factory.mktemp("tags") / "notes.jsonl", vocab_words(tiny_bert))
    config = tag_config(tiny_bert, data, class_weights="balanced", num_train_epochs=1, precision="fp32")
    config.ensemble.baseline_weight = "auto"
    return config, run(config, output_dir=tmp_path_factory.mktemp("runs") / "tag-ensemble")


def test_platt_scaling_maps_margins_to_log_odds():
    rng = np.random.default_rng(0)
    y = np.zeros((200, 2), dtype=np.int64)
    y[:100, 0] = 1
    margins = np.where(y == 1, 1.0, -1.0) * 2 + rng.normal(0, 1, size=y.shape)
    (a, b), constant = platt_scaling(margins, y)
    assert a > 0.5 and abs(b) < 1  # a larger margin is more likely a positive; balanced: no shift
    assert constant == [1.0, 0.0]  # a label never seen in train: nothing to fit, margins kept


@pytest.mark.slow
def test_a_tag_ensemble_is_scored_and_saved_as_the_mix(tag_ensemble):
    config, result = tag_ensemble
    run_dir, results = result.run_dir, result.results
    entry = results["ensemble"]
    assert entry["weight_search"]["chosen_on"] == "validation" and len(entry["platt"]) == 3
    assert entry["baseline_weight"] in [round(0.1 * i, 1) for i in range(10)]
    test = build_dataset(config.data, config.task)["test"]
    alone = load_for_inference(run_dir, ensemble=False)
    transformer = predict_logits(alone, split_batches(alone, test))
    baseline, *_ = load_baseline(run_dir / "model" / ENSEMBLE_DIR)
    odds = tag_log_odds(baseline.pipeline, baseline.meta["platt"], list(test["text"]), 3)
    mixed = mix_tags(transformer, odds, entry["baseline_weight"])
    names = alone.label_names
    thresholds = [results["thresholds"][n] for n in names]
    expected, _ = Tags().evaluate(mixed, Tags.references(test["label"], 3), names, thresholds)
    assert results["metrics"]["f1_macro"] == pytest.approx(expected["f1_macro"], abs=1e-6)
    # the saved thresholds are those of the mix, and evaluate on the run reproduces its figures
    saved = json.loads((run_dir / "model" / "config.json").read_text())["fieldtune_thresholds"]
    assert saved == thresholds
    again = evaluate_model(str(run_dir), None)
    assert again["metrics"]["f1_macro"] == pytest.approx(results["metrics"]["f1_macro"], abs=1e-4)
    assert again["metrics"]["f1_micro"] == pytest.approx(results["metrics"]["f1_micro"], abs=1e-4)
    assert "baseline_check" not in results  # the ensemble holds the baseline already
