"""`fieldtune push CV_DIR`: a fold ensemble goes to the Hub as its K fold folders, the CV's results and a
card with the ensemble's test scores, the CV mean ± sd and how plain transformers averages the folds."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pandas as pd
import pytest
import torch
from huggingface_hub import ModelCard, snapshot_download

from fieldtune.cli import main
from fieldtune.inference.load import load_for_inference, predict_logits, text_batches
from tests import hub_fixtures
from tests.test_cv import cv_config
from tests.test_hub_runs import TEXTS, unique

hub_env, hub_server = hub_fixtures.hub_env, hub_fixtures.hub_server
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cv_dir(tiny_bert, demand_csv, tmp_path_factory):
    from fieldtune.cv import run_cv

    config = cv_config(tiny_bert, demand_csv, folds=2, learning_rate=1e-2)
    return run_cv(config, output_dir=tmp_path_factory.mktemp("cv") / "cv").cv_dir


def test_push_a_cv_directory_then_average_the_folds_in_plain_transformers(cv_dir, hub_env, tmp_path, capsys):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    repo = unique("cv")
    assert main(["push", str(cv_dir), "--repo-id", repo]) == 0
    local = snapshot_download(repo, cache_dir=tmp_path / "cache")
    names = {p.relative_to(local).as_posix() for p in Path(local).rglob("*") if p.is_file()}
    for name in (
        "eval_results.json",
        "cv_results.json",
        "README.md",
        "fieldtune_config.yaml",
        "plots/cv_folds.png",
    ):
        assert name in names, name
    for fold in range(2):
        for name in ("config.json", "model.safetensors", "tokenizer.json"):
            assert f"fold-{fold}/{name}" in names
    assert "oof_predictions.csv" not in names and "predictions.csv" not in names  # raw inputs stay in house

    results = json.loads((cv_dir / "eval_results.json").read_text())
    card = ModelCard.load(f"{local}/README.md")
    index = {r.metric_type: r.metric_value for r in card.data.eval_results}
    assert index["accuracy"] == pytest.approx(results["metrics"]["accuracy"])  # the ensemble's test score
    f1 = results["cv"]["metrics"]["f1_macro"]
    assert f"{f1['mean']:.4f} ± {f1['sd']:.4f}" in card.text and 'subfolder=f"fold-{i}"' in card.text

    # the card's recipe, run by hand: the mean of the folds' softmax is fieldtune's ensemble
    folds = [
        AutoModelForSequenceClassification.from_pretrained(local, subfolder=f"fold-{i}").eval()
        for i in range(2)
    ]
    tok = AutoTokenizer.from_pretrained(local, subfolder="fold-0")
    with torch.no_grad():
        inputs = tok(TEXTS, padding=True, truncation=True, max_length=32, return_tensors="pt")
        mean = torch.stack([m(**inputs).logits.softmax(-1) for m in folds]).mean(0).numpy()
    ensemble = load_for_inference(cv_dir)
    ours = predict_logits(ensemble, text_batches(ensemble, TEXTS))
    assert mean == pytest.approx(torch.tensor(ours).softmax(-1).numpy(), abs=1e-5)
    pulled = load_for_inference(local)  # the downloaded repo is a CV directory to fieldtune
    assert predict_logits(pulled, text_batches(pulled, TEXTS)) == pytest.approx(ours, abs=1e-5)

    assert main(["leaderboard", "--hub", repo, "--output", str(tmp_path / "lb")]) == 0
    board = pd.read_csv(tmp_path / "lb" / "leaderboard.csv").set_index("model")
    assert board.loc[repo, "accuracy"] == pytest.approx(results["metrics"]["accuracy"])
    # the folds' mean and sd of the board's primary metric, as a local CV directory's row shows them
    cv = results["cv"]["metrics"][board.loc[repo, "primary_metric"]]
    assert (board.loc[repo, "cv_mean"], board.loc[repo, "cv_sd"]) == pytest.approx((cv["mean"], cv["sd"]))


def test_push_with_predictions_sends_the_out_of_fold_rows(cv_dir, hub_env, tmp_path):
    repo = unique("cv-oof")
    assert main(["push", str(cv_dir), "--repo-id", repo, "--include-predictions"]) == 0
    local = snapshot_download(repo, cache_dir=tmp_path / "cache")
    assert (cv_dir / "oof_predictions.csv").read_bytes() == (Path(local) / "oof_predictions.csv").read_bytes()


def test_hub_push_at_the_end_of_a_cv(tiny_bert, demand_csv, hub_env, tmp_path):
    from huggingface_hub import HfApi

    from fieldtune.cv import run_cv

    repo = unique("cv-train")
    config = cv_config(tiny_bert, demand_csv, folds=2, max_steps=2)
    config = dataclasses.replace(config, hub=dataclasses.replace(config.hub, push=True, repo_id=repo))
    run_cv(config, output_dir=tmp_path / "cv")
    files = set(HfApi().list_repo_files(repo))
    assert {"fold-0/config.json", "fold-1/config.json", "cv_results.json", "eval_results.json"} <= files
