"""Intervals, test size and 'tied with #1' on the boards: a paired bootstrap on matched predictions.csv rows."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest

from fieldtune.evaluation.confidence import run_intervals
from fieldtune.leaderboard import build_leaderboard
from fieldtune.leaderboard.render import render_csv, render_html, render_markdown

from .conftest import eval_results

CLASSES = ["low", "medium", "high"]


def write_scored_run(root, name, labels, predicted, texts=None):
    """A run directory whose eval_results.json and predictions.csv agree, as `fieldtune train` writes them."""
    texts = texts or [f"order {i}" for i in range(len(labels))]
    folder = root / name
    folder.mkdir(parents=True)
    pd.DataFrame({"text": texts, "label": labels, "predicted": predicted}).to_csv(
        folder / "predictions.csv", index=False
    )
    accuracy = float(np.mean(np.asarray(labels) == np.asarray(predicted)))
    from sklearn.metrics import f1_score

    results = eval_results(
        name, f1=float(f1_score(labels, predicted, average="macro")), accuracy=accuracy,
        num_test_examples=len(labels),
        confidence_intervals=run_intervals("classes", labels, {"predicted": predicted}, CLASSES),
    )  # fmt: skip
    (folder / "eval_results.json").write_text(json.dumps(results))
    return folder


@pytest.fixture
def scored_runs(tmp_path):
    rng = np.random.default_rng(0)
    labels = list(rng.choice(CLASSES, 300))

    def noisy(error):
        return [rng.choice(CLASSES) if rng.random() < error else y for y in labels]

    best = noisy(0.1)
    twin = list(best)
    twin[:2] = [CLASSES[(CLASSES.index(y) + 1) % 3] for y in labels[:2]]  # two rows apart
    other_rows = [f"another order {i}" for i in range(300)]
    return {
        "best": write_scored_run(tmp_path, "best", labels, best),
        "twin": write_scored_run(tmp_path, "twin", labels, twin),
        "worse": write_scored_run(tmp_path, "worse", labels, noisy(0.5)),
        "elsewhere": write_scored_run(tmp_path, "elsewhere", labels, noisy(0.3), texts=other_rows),
    }


def test_near_identical_runs_are_tied_and_a_clearly_worse_one_is_not(scored_runs):
    [board], text = build_leaderboard(list(scored_runs.values()), [])
    marks = {row.entry.model: row.vs_leader for row in board.rows}
    assert marks == {"best": "leader", "twin": "tied", "worse": "below", "elsewhere": None}
    worse = next(row for row in board.rows if row.entry.model == "worse")
    assert worse.difference["significant"] and worse.difference["interval"][0] > 0
    assert "tied with #1" in text and "below #1" in text and "95% CI" in text
    low, high = board.rows[0].entry.intervals["f1_macro"]
    assert low < board.rows[0].score < high and f"{low:.4f}-{high:.4f}" in text
    assert all(row.entry.num_examples == 300 for row in board.rows)


def test_every_format_carries_the_interval_and_the_tie(scored_runs):
    boards, _ = build_leaderboard(list(scored_runs.values()), [])
    page = render_html(boards)
    assert 'data-key="interval"' in page and 'data-key="vs_leader"' in page and ">tied with #1</td>" in page
    assert "paired-bootstrap" in render_markdown(boards)
    rows = {r["model"]: r for r in pd.read_csv(io.StringIO(render_csv(boards))).to_dict("records")}
    assert rows["twin"]["vs_leader"] == "tied" and rows["best"]["primary_low"] < rows["best"]["primary_value"]
    assert rows["best"]["num_examples"] == 300


def test_boards_without_intervals_keep_their_columns(write_run):
    boards, text = build_leaderboard([write_run("a", eval_results("runs/a"))], [])
    assert "95% CI" not in text and "vs #1" not in text


def test_hub_eval_results_fill_what_the_card_lacks(monkeypatch):
    from datetime import datetime, timezone

    import yaml
    from huggingface_hub import parse_eval_result_entries

    import fieldtune.hub.eval_results as hub_results
    from fieldtune.leaderboard.collect import Entry, _with_eval_results

    results = eval_results("org/m", f1=0.9, accuracy=0.93, num_test_examples=300, dataset="hs_codes")
    results["confidence_intervals"] = {
        "level": 0.95,
        "metrics": {"f1_macro": [0.88, 0.92], "accuracy": [0.9, 0.95]},
    }
    path, data = hub_results.eval_results_file(
        results, "http://hub/org/m", datetime(2026, 1, 2, tzinfo=timezone.utc)
    )
    assert path == ".eval_results/hs_codes.yaml"
    written = parse_eval_result_entries(yaml.safe_load(data))
    assert [(e.task_id, e.value, e.date) for e in written] == [
        ("f1_macro", 0.9, "2026-01-02T00:00:00Z"), ("accuracy", 0.93, "2026-01-02T00:00:00Z"),
    ]  # fmt: skip
    other = hub_results.EvalResultEntry(dataset_id="cais/hle", task_id="default", value=20.9)
    monkeypatch.setattr(hub_results, "fetch_eval_results", lambda repo, rev: [*written, other])
    card = Entry("org/m", "hub", "text-classification", "hs_codes", "test", {"f1_macro": 0.91}, "f1_macro")
    merged = _with_eval_results([card], "org/m", "sha")
    assert merged[0].metrics == {"f1_macro": 0.91, "accuracy": 0.93}  # the card's own value wins
    assert (merged[1].dataset, merged[1].metrics, merged[1].split) == (
        "cais/hle",
        {"default": 20.9},
        "unspecified",
    )
