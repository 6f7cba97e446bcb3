"""`ensemble.baseline_weight`: the fine-tuned classifier mixed with the TF-IDF baseline, saved with the run,
loaded as one model by predict / evaluate / export, and as the transformer alone by plain transformers."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import numpy as np
import pandas as pd
import pytest
import torch

from fieldtune.baselines.ensemble import ENSEMBLE_DIR, log_probabilities, mix
from fieldtune.baselines.tfidf import load_baseline
from fieldtune.cli import main
from fieldtune.datasets_builders import build_dataset
from fieldtune.inference.evaluate import evaluate_model
from fieldtune.inference.load import load_for_inference, predict_logits, split_batches
from fieldtune.leaderboard.collect import entry_from_results
from fieldtune.training.run import run
from tests import hub_fixtures
from tests.hub_server import USER
from tests.test_train_text import text_config

hub_env, hub_server = hub_fixtures.hub_env, hub_fixtures.hub_server

WEIGHT = 0.6


@pytest.fixture(scope="module")
def ensemble_run(tiny_bert, tmp_path_factory):
    config = text_config(
        tiny_bert,
        training={"class_weights": "balanced", "precision": "fp32", "num_train_epochs": 1},
        ensemble={"baseline_weight": WEIGHT},
    )
    return config, run(config, output_dir=tmp_path_factory.mktemp("runs") / "ensemble")


def _halves(run_dir, config):
    """The test split's transformer logits and baseline log-probabilities, each computed alone."""
    test = build_dataset(config.data, config.task)["test"]
    alone = load_for_inference(run_dir, ensemble=False)
    transformer = predict_logits(alone, split_batches(alone, test))
    baseline, *_ = load_baseline(run_dir / "model" / ENSEMBLE_DIR)
    return test, transformer, log_probabilities(baseline.pipeline, list(test["text"]), transformer.shape[1])


def test_run_scores_are_the_weighted_mix_and_record_each_half(ensemble_run):
    config, result = ensemble_run
    run_dir, results = result.run_dir, result.results
    test, transformer, baseline = _halves(run_dir, config)
    mixed = mix(transformer, baseline, WEIGHT)
    probs = torch.softmax(torch.from_numpy(mixed), -1).numpy()
    # the mix is the normalised weighted geometric mean of the two probability tables
    geo = (
        torch.softmax(torch.from_numpy(transformer), -1).numpy() ** (1 - WEIGHT) * np.exp(baseline) ** WEIGHT
    )
    np.testing.assert_allclose(probs, geo / geo.sum(1, keepdims=True), rtol=1e-4, atol=1e-6)
    rows = pd.read_csv(run_dir / "predictions.csv")
    labels = load_for_inference(run_dir).label_names
    assert rows["predicted"].tolist() == [labels[i] for i in probs.argmax(1)]
    np.testing.assert_allclose(rows["score"], probs.max(1), atol=2e-5)
    entry = results["ensemble"]
    assert entry["baseline_weight"] == WEIGHT and "CalibratedClassifierCV" in entry["baseline_model"]
    refs = np.asarray(test["label"])
    assert entry["transformer"]["accuracy"] == pytest.approx((transformer.argmax(1) == refs).mean(), abs=1e-6)
    assert entry["baseline"]["accuracy"] == pytest.approx((baseline.argmax(1) == refs).mean(), abs=1e-6)
    assert results["metrics"]["accuracy"] == pytest.approx((probs.argmax(1) == refs).mean())
    meta = json.loads((run_dir / "model" / ENSEMBLE_DIR / "fieldtune_baseline.json").read_text())
    assert meta["baseline_weight"] == WEIGHT and meta["coefficients"] > 0
    card = (run_dir / "README.md").read_text()
    assert "**ensemble**" in card and f"{entry['baseline']['f1_macro']:.4f}" in card


def test_weight_zero_is_the_transformer_alone():
    rng = np.random.default_rng(0)
    logits, baseline = rng.normal(size=(7, 4)) * 3, np.log(rng.dirichlet(np.ones(4), size=7))
    same = mix(logits, baseline, 0.0)
    np.testing.assert_allclose(
        same, torch.log_softmax(torch.tensor(logits, dtype=torch.float32), -1), atol=1e-6
    )
    assert (mix(logits, baseline, 0.999).argmax(1) == baseline.argmax(1)).all()  # and w -> 1 the baseline


def test_choose_weight_follows_the_half_that_is_right_on_held_out_rows():
    from fieldtune.baselines.ensemble import WEIGHT_GRID, choose_weight
    from fieldtune.tasks.table import get_task

    task, rng = get_task("text-classification"), np.random.default_rng(0)
    refs = rng.integers(0, 4, size=60)
    right = np.log(np.full((60, 4), 0.05) + 0.8 * np.eye(4)[refs])  # P(true class) 0.85
    wrong = np.log(np.full((60, 4), 0.05) + 0.8 * np.eye(4)[(refs + 1) % 4])
    names = list("abcd")
    weight, search = choose_weight(task, 3 * wrong, right, refs, names)  # the baseline half is the right one
    assert weight == max(WEIGHT_GRID) and search["chosen_on"] == "validation"
    assert set(search["weights"]) == {f"{w:g}" for w in WEIGHT_GRID}
    weight, _ = choose_weight(task, 3 * right, wrong, refs, names)  # the transformer is: the baseline is off
    assert weight == 0.0
    # equal scores everywhere: the lower log loss decides (the two agree, the baseline is surer)
    weight, search = choose_weight(task, 0.1 * right, right, refs, names)
    losses = {w: v["log_loss"] for w, v in search["weights"].items()}
    assert f"{weight:g}" == min(losses, key=losses.get) and weight > 0


def _rare_class_case() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validation rows where macro-F1 and log loss disagree (HS sections' overshoot, small): the transformer
    is sure and right on two common classes, unsure and wrong on a rare class of 4 rows; the baseline is
    right on the rare rows but surely wrong on 4 common ones. Mixing in the baseline flips the rare rows
    (macro-F1 0.63 -> 0.88 at w >= 0.5) and costs log loss at every weight."""
    refs = np.array([0] * 18 + [1] * 18 + [2] * 4)
    transformer = np.log(
        [[0.6, 0.05, 0.35] if r == 2 else np.where(np.arange(3) == r, 0.9, 0.05) for r in refs]
    )
    baseline = np.log([np.where(np.arange(3) == r, 0.5, 0.25) for r in refs])
    for i in (0, 1, 18, 19):
        baseline[i] = np.log(np.where(np.arange(3) == (refs[i] + 1) % 3, 0.998, 0.001))
    return transformer, baseline, refs


def test_choose_by_log_loss_or_macro_f1_picks_each_its_own_weight():
    from scipy.special import softmax
    from sklearn.metrics import log_loss

    from fieldtune.baselines.ensemble import choose_weight
    from fieldtune.tasks.table import get_task

    task, (transformer, baseline, refs), names = (
        get_task("text-classification"),
        _rare_class_case(),
        list("abc"),
    )
    by_f1, search = choose_weight(task, transformer, baseline, refs, names)  # today's default
    assert by_f1 == 0.5 and search["chosen_by"] == "f1_macro"
    by_loss, search = choose_weight(task, transformer, baseline, refs, names, by="log_loss")
    assert by_loss == 0.0 and search["chosen_by"] == "log_loss"
    for w, scores in search["weights"].items():  # the recorded log loss is scikit-learn's
        mixed = softmax(mix(transformer, baseline, float(w)).astype(np.float64), axis=1)
        assert scores["log_loss"] == pytest.approx(log_loss(refs, mixed, labels=[0, 1, 2]), abs=1e-5)


def test_recipe_choose_by_reaches_the_weight_search(tiny_bert):
    """`ensemble.choose_by: log_loss` in a recipe: the run's `weight_search` was chosen, and says it was, by it."""
    from fieldtune.baselines.ensemble import ensemble_test
    from fieldtune.tasks.table import get_task

    config = text_config(tiny_bert, ensemble={"baseline_weight": "auto", "choose_by": "log_loss"})
    transformer, _, refs = _rare_class_case()
    words = ["rice sacks", "cement bags", "copper wire"]
    rows = {"text": [f"{words[r]} order {i}" for i, r in enumerate(refs)], "label": refs.tolist()}
    dd = {"train": rows, "validation": rows, "test": rows}
    _, _, entry = ensemble_test(
        config, get_task(config.task), dd, list("abc"), None, transformer, transformer
    )
    search = entry["weight_search"]
    assert search["chosen_by"] == "log_loss"
    losses = {float(w): v["log_loss"] for w, v in search["weights"].items()}
    assert losses[entry["baseline_weight"]] == min(losses.values())


def test_auto_weight_is_the_best_mix_on_validation(tiny_bert, tmp_path):
    from sklearn.metrics import f1_score

    config = text_config(
        tiny_bert,
        training={"class_weights": "balanced", "precision": "fp32", "num_train_epochs": 1},
        ensemble={"baseline_weight": "auto"},
    )
    result = run(config, output_dir=tmp_path / "auto")
    entry = result.results["ensemble"]
    search = entry["weight_search"]
    validation = build_dataset(config.data, config.task)["validation"]
    alone = load_for_inference(result.run_dir, ensemble=False)
    transformer = predict_logits(alone, split_batches(alone, validation))
    baseline, *_ = load_baseline(result.run_dir / "model" / ENSEMBLE_DIR)
    held_out = log_probabilities(baseline.pipeline, list(validation["text"]), transformer.shape[1])
    refs = np.asarray(validation["label"])
    for w, scores in search["weights"].items():  # each weight's recorded score is its mix's, on validation
        pred = mix(transformer, held_out, float(w)).argmax(1)
        assert scores["f1_macro"] == pytest.approx(f1_score(refs, pred, average="macro"), abs=1e-6)
    best = max(v["f1_macro"] for v in search["weights"].values())
    assert search["weights"][f"{entry['baseline_weight']:g}"]["f1_macro"] == best
    assert baseline.meta["baseline_weight"] == entry["baseline_weight"]  # what predict will mix with
    assert "chosen on the validation split" in (result.run_dir / "README.md").read_text()


def test_predict_and_evaluate_on_the_run_use_the_ensemble(ensemble_run, tmp_path):
    config, result = ensemble_run
    run_dir = result.run_dir
    rows = pd.read_csv(run_dir / "predictions.csv")
    inputs = tmp_path / "texts.csv"
    rows[["text"]].to_csv(inputs, index=False)
    assert main(["predict", str(run_dir), "--input", str(inputs), "--output", str(tmp_path / "p.csv")]) == 0
    predicted = pd.read_csv(tmp_path / "p.csv")
    assert predicted["label"].tolist() == rows["predicted"].tolist()
    np.testing.assert_allclose(predicted["score"], rows["score"], atol=2e-5)
    scored = evaluate_model(str(run_dir), None)
    assert scored["metrics"]["accuracy"] == pytest.approx(result.results["metrics"]["accuracy"])
    assert scored["metrics"]["f1_macro"] == pytest.approx(result.results["metrics"]["f1_macro"])
    # the evaluated scores are the mix: a leaderboard of them marks the row as an ensemble
    assert entry_from_results(scored, source="run").ensemble.endswith(f"TF-IDF LinearSVC (w {WEIGHT:g})")


PLAIN = """
import json, sys
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer
folder, texts = sys.argv[1], json.loads(sys.argv[2])
model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
with torch.no_grad():
    logits = model(**AutoTokenizer.from_pretrained(folder)(texts, padding=True, return_tensors="pt")).logits
assert not any(m.startswith("fieldtune") for m in sys.modules)
print(json.dumps(logits.tolist()))
"""


def test_plain_transformers_loads_the_transformer_half(ensemble_run):
    config, result = ensemble_run
    run_dir = result.run_dir
    test, transformer, _ = _halves(run_dir, config)
    texts = list(test["text"][:4])
    proc = subprocess.run(
        [sys.executable, "-c", PLAIN, str(run_dir / "model"), json.dumps(texts)],
        capture_output=True, text=True, timeout=180, check=True,
    )  # fmt: skip
    plain = np.asarray(json.loads(proc.stdout.strip().splitlines()[-1]))
    np.testing.assert_allclose(plain, transformer[:4], atol=1e-4)


@pytest.mark.slow
def test_onnx_export_carries_the_baseline_half(ensemble_run, tmp_path):
    pytest.importorskip("onnxruntime")
    _, result = ensemble_run
    out = tmp_path / "onnx"
    assert main(["export", str(result.run_dir), "--format", "onnx", "--out", str(out)]) == 0
    assert (out / ENSEMBLE_DIR / "model.skops").is_file()
    report = json.loads((out / "export_report.json").read_text())
    assert "transformer graph alone" in report["ensemble"]
    rows = pd.read_csv(result.run_dir / "predictions.csv")
    texts = tmp_path / "texts.csv"
    rows[["text"]].to_csv(texts, index=False)
    assert main(["predict", str(out), "--input", str(texts), "--output", str(tmp_path / "p.csv")]) == 0
    predicted = pd.read_csv(tmp_path / "p.csv")
    assert predicted["label"].tolist() == rows["predicted"].tolist()
    np.testing.assert_allclose(predicted["score"], rows["score"], atol=1e-4)


def test_predict_resume_tells_another_baseline_half_apart(ensemble_run, tmp_path):
    from fieldtune.inference.batch_predict import model_fingerprint

    _, result = ensemble_run
    copy = tmp_path / "model"
    import shutil

    shutil.copytree(result.run_dir / "model", copy)
    assert model_fingerprint(copy) == model_fingerprint(result.run_dir / "model")
    meta = copy / ENSEMBLE_DIR / "fieldtune_baseline.json"
    meta.write_text(meta.read_text().replace(f'"baseline_weight": {WEIGHT}', '"baseline_weight": 0.2'))
    assert model_fingerprint(copy) != model_fingerprint(result.run_dir / "model")


@pytest.mark.slow
def test_pushed_ensemble_is_marked_on_the_hub_leaderboard(ensemble_run, hub_env, tmp_path, capsys):
    """`leaderboard --hub` of a pushed ensemble marks the row as it marks the local run (kind and CSV column)."""
    _, result = ensemble_run
    repo = f"{USER}/ensemble-{uuid.uuid4().hex[:8]}"
    assert main(["push", str(result.run_dir), "--repo-id", repo]) == 0
    capsys.readouterr()
    out = tmp_path / "lb"
    assert main(["leaderboard", str(result.run_dir), "--hub", repo, "--output", str(out)]) == 0
    assert capsys.readouterr().out.count("ensemble: ") == 2  # the run and its Hub copy
    board = pd.read_csv(out / "leaderboard.csv")
    marks = dict(zip(board["source"], board["ensemble"], strict=True))
    # the card names no local base model (a path is not pushed): "fine-tuned model + ..." on the Hub row
    assert marks["hub"] == f"fine-tuned model + TF-IDF LinearSVC (w {WEIGHT:g})"
    assert marks["run"].endswith(f" + TF-IDF LinearSVC (w {WEIGHT:g})")
