"""A baseline through the test Hub: `push` uploads it with `.eval_results/<dataset>.yaml` (the Hub's own
results format) beside the model-index card; `pull`, `predict` from the Hub id, and `leaderboard --hub`
(which reads both) accept it."""

from __future__ import annotations

import json
import uuid

import pytest
import yaml
from huggingface_hub import HfApi, parse_eval_result_entries

from fieldtune.cli import main
from fieldtune.leaderboard import entries_from_hub
from fieldtune.leaderboard.kinds import kind_of
from tests import hub_fixtures
from tests.hub_server import USER
from tests.test_baseline import baseline_run, hs_recipe  # noqa: F401  (module fixtures, found by name)

hub_env, hub_server = hub_fixtures.hub_env, hub_fixtures.hub_server
pytestmark = pytest.mark.slow


def test_push_writes_eval_results_and_the_leaderboard_reads_both(baseline_run, hub_env, tmp_path, capsys):  # noqa: F811
    repo = f"{USER}/hs-baseline-{uuid.uuid4().hex[:8]}"
    assert main(["push", str(baseline_run), "--repo-id", repo]) == 0
    assert main(["pull", repo, "--out", str(tmp_path / "pulled")]) == 0
    pulled = tmp_path / "pulled"
    assert (pulled / "model.skops").is_file() and (pulled / "fieldtune_baseline.json").is_file()
    results = json.loads((baseline_run / "eval_results.json").read_text())
    [path] = (pulled / ".eval_results").glob("*.yaml")
    assert path.name == "hs_codes.yaml"
    entries = {e.task_id: e for e in parse_eval_result_entries(yaml.safe_load(path.read_text()))}
    assert set(entries) == set(results["confidence_intervals"]["metrics"])  # the metrics with an interval
    f1 = entries["f1_macro"]
    assert f1.dataset_id == "hs_codes" and f1.value == pytest.approx(results["metrics"]["f1_macro"])
    assert f1.source_url.endswith(f"{repo}/blob/main/eval_results.json") and f1.date.endswith("Z")
    assert "bootstrap interval" in f1.notes and f"n={results['num_test_examples']}" in f1.notes
    assert "model-index" in (pulled / "README.md").read_text()  # kept for older readers
    capsys.readouterr()

    assert main(["predict", repo, "--text", "copper wire grade 3"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].split(",")[1] == "XV"
    assert main(["leaderboard", str(baseline_run), "--hub", repo]) == 0
    assert repo in capsys.readouterr().out
    # a card without model-index: the leaderboard still ranks the repo from its .eval_results file
    HfApi().upload_file(
        path_or_fileobj=b"# a card without metadata\n", path_in_repo="README.md", repo_id=repo
    )
    [entry] = entries_from_hub(repo)
    assert entry.dataset == "hs_codes" and entry.primary_metric == "f1_macro"
    assert entry.metrics == {name: e.value for name, e in entries.items()}


def test_pushed_baseline_is_marked_on_the_hub_leaderboard(baseline_run, hub_env, tmp_path, capsys):  # noqa: F811
    """`leaderboard --hub` of a pushed baseline marks the row as it marks the local run (kind and CSV column)."""
    import pandas as pd

    repo = f"{USER}/hs-baseline-{uuid.uuid4().hex[:8]}"
    assert main(["push", str(baseline_run), "--repo-id", repo]) == 0
    out = tmp_path / "lb"
    assert main(["leaderboard", str(baseline_run), "--hub", repo, "--output", str(out)]) == 0
    board = pd.read_csv(out / "leaderboard.csv")
    marks = dict(zip(board["source"], board["baseline"], strict=True))
    described = json.loads((baseline_run / "eval_results.json").read_text())["baseline"]["model"]
    assert marks == {"run": described, "hub": described}
    assert {kind_of(entry) for entry in entries_from_hub(repo)} == {"baseline"}


def test_baseline_pushed_before_the_card_said_so_is_known_by_its_tags():
    """Earlier pushes carry no `fieldtune: {baseline: ...}` metadata; their card's `baseline` tag marks them."""
    from fieldtune.leaderboard.collect import entries_from_card

    card = """---
tags: [fieldtune, baseline, text-classification]
model-index:
- name: b
  results:
  - task: {type: text-classification, name: text-classification}
    dataset: {type: hs_codes, name: hs_codes, split: test}
    metrics: [{type: f1, name: f1_macro, value: 0.9}]
---
"""
    [entry] = entries_from_card("u/b", card)
    assert kind_of(entry) == "baseline"
    [plain] = entries_from_card("u/b", card.replace("fieldtune, baseline, ", "fieldtune, "))
    assert kind_of(plain) is None
