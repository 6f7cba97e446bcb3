"""Collecting entries (run dirs, model cards, Hub) and ranking them into boards."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from huggingface_hub import EvalResult, ModelCard, ModelCardData, constants

import fieldtune.leaderboard as leaderboard
from fieldtune.errors import FieldtuneError, HubError, RunDirError
from fieldtune.leaderboard import (
    build_leaderboard,
    entries_from_card,
    entries_from_hub,
    entry_from_run,
    group_and_rank,
)
from fieldtune.leaderboard.collect import Entry, entry_from_results

from .conftest import eval_results, regression_results

SHA = "0123456789abcdef0123456789abcdef01234567"


def entry(model: str, f1: float | None, trainable: int | None = 1000, **kw) -> Entry:
    results = eval_results(model, f1=f1, trainable=trainable, **kw)
    return entry_from_results(results, source="run")


def card_text(results: list[EvalResult], base_model: str | None = "bert-base-uncased") -> str:
    data = ModelCardData(model_name="demo", base_model=base_model, eval_results=results)
    return str(ModelCard.from_template(data))


def result(metric: str, value: float, dataset: str = "logistics_demand", split: str | None = "test", **kw):
    kw.setdefault("task_type", "text-classification")
    return EvalResult(
        dataset_type=dataset,
        dataset_name=dataset.title(),
        dataset_split=split,
        metric_type=metric,
        metric_value=value,
        **kw,
    )


# --- run directories ---------------------------------------------------------------------------


def test_entry_from_run_reads_the_contract(write_run):
    run = write_run("a", eval_results("runs/a", f1=0.88, accuracy=0.91, trainable=12345))
    e = entry_from_run(run)
    assert (e.model, e.source, e.task, e.dataset, e.split) == (
        "runs/a",
        "run",
        "text-classification",
        "logistics_demand",
        "test",
    )
    assert e.metrics["f1_macro"] == 0.88 and e.metrics["accuracy"] == 0.91
    assert "per_class" not in e.metrics  # nested values are not rankable
    assert (e.primary_metric, e.greater_is_better) == ("f1_macro", True)
    assert (e.method, e.trainable_params, e.total_params, e.train_samples_per_s) == (
        "lora",
        12345,
        22_000_000,
        85.2,
    )
    assert e.base_model == "sentence-transformers/all-MiniLM-L6-v2"
    # A JSON file shaped like eval_results.json (`fieldtune evaluate --output`) works too.
    assert entry_from_run(run / "eval_results.json") == e


def test_entry_from_run_falls_back_to_the_path_and_derives_the_primary(write_run):
    results = eval_results("", f1=None, metrics={"mae": 1.0, "rmse": 2.0, "r2": 0.5})
    del results["primary_metric"], results["greater_is_better"]
    e = entry_from_run(write_run("reg", results))
    assert e.model.endswith("reg")
    assert (e.primary_metric, e.greater_is_better) == ("rmse", False)


@pytest.mark.parametrize(
    "setup, expected",
    [
        (lambda d: None, "does not exist"),
        (lambda d: d.mkdir(), "fieldtune evaluate"),
        (lambda d: (d.mkdir(), (d / "eval_results.json").write_text("{not json")), "cannot be read"),
        (lambda d: (d.mkdir(), (d / "eval_results.json").write_text("[1, 2]")), "not a JSON object"),
        (
            lambda d: (d.mkdir(), (d / "eval_results.json").write_text('{"task": "x"}')),
            "lacks dataset, metrics",
        ),
    ],
    ids=["no-dir", "no-file", "corrupt", "not-object", "incomplete"],
)
def test_entry_from_run_errors_name_the_path_and_the_fix(tmp_path, setup, expected):
    run = tmp_path / "run"
    setup(run)
    with pytest.raises(RunDirError, match=expected) as info:
        entry_from_run(run)
    message = str(info.value)
    assert str(run) in message and "\n" not in message


def test_non_finite_and_boolean_metrics_count_as_missing():
    e = entry_from_results(
        {"task": "t", "dataset": "d", "metrics": {"f1_macro": float("nan"), "accuracy": True, "r2": 0.5}},
        source="run",
    )
    assert e.metrics == {"r2": 0.5}


# --- model cards ---------------------------------------------------------------------------------


def test_entries_from_card_groups_by_task_dataset_split():
    text = card_text(
        [
            result("accuracy", 0.9),
            result("f1_macro", 0.8),
            result("accuracy", 0.7, split="validation"),
            result("rmse", 3.0, dataset="demand_qty", task_type="text-regression"),
            result("mae", 2.0, dataset="demand_qty", task_type="text-regression"),
        ]
    )
    entries = entries_from_card("org/model", text, revision=SHA)
    by_key = {(e.task, e.dataset, e.split): e for e in entries}
    assert len(entries) == 3
    test = by_key[("text-classification", "logistics_demand", "test")]
    assert test.metrics == {"accuracy": 0.9, "f1_macro": 0.8}  # names as stored in the card
    assert (test.primary_metric, test.greater_is_better) == ("f1_macro", True)
    assert (test.model, test.source, test.revision, test.base_model) == (
        "org/model",
        "hub",
        SHA,
        "bert-base-uncased",
    )
    assert by_key[("text-classification", "logistics_demand", "validation")].primary_metric == "accuracy"
    reg = by_key[("text-regression", "demand_qty", "test")]
    assert (reg.primary_metric, reg.greater_is_better) == ("rmse", False)


def test_card_without_split_and_without_results():
    [e] = entries_from_card("org/m", card_text([result("accuracy", 0.5, split=None)]))
    assert e.split == "unspecified"  # never silently joins the `test` board
    assert entries_from_card("org/m", "---\nlicense: mit\n---\n# hi\n") == []
    assert entries_from_card("org/m", "no yaml at all") == []


def test_malformed_model_index_is_a_hub_error():
    with pytest.raises(HubError, match="org/bad"):
        entries_from_card("org/bad", "---\nmodel-index: 5\n---\n")


def fake_download(tmp_path: Path, text: str):
    snapshot = tmp_path / "models--org--m" / "snapshots" / SHA
    snapshot.mkdir(parents=True)
    (snapshot / "README.md").write_text(text, encoding="utf-8")

    def download(repo_id, filename, revision=None, repo_type=None):
        assert (repo_id, filename, repo_type) == ("org/m", "README.md", "model")
        return str(snapshot / filename)

    return download


def test_entries_from_hub_reads_the_card_and_the_commit(tmp_path, monkeypatch):
    monkeypatch.setattr(
        "fieldtune.leaderboard.collect.hf_hub_download",
        fake_download(tmp_path, card_text([result("f1_macro", 0.7)])),
    )
    [e] = entries_from_hub("org/m", revision="main")
    assert (e.model, e.revision, e.metrics) == ("org/m", SHA, {"f1_macro": 0.7})


def test_entries_from_hub_without_results_points_to_benchmark(tmp_path, monkeypatch):
    monkeypatch.setattr(
        "fieldtune.leaderboard.collect.hf_hub_download", fake_download(tmp_path, "# no metadata\n")
    )
    with pytest.raises(HubError, match="--benchmark"):
        entries_from_hub("org/m")


def test_entries_from_hub_offline_is_a_one_line_hub_error(tmp_path, monkeypatch):
    # The real client, with offline mode on and an empty cache: no network is touched.
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    with pytest.raises(HubError, match="org/absent@v1") as info:
        entries_from_hub("org/absent", revision="v1")
    assert "\n" not in str(info.value)


# --- ranking -------------------------------------------------------------------------------------


def test_rank_higher_is_better_equal_scores_share_a_rank_fewer_params_first_and_unranked_last():
    boards = group_and_rank(
        [
            entry("big", 0.8, trainable=5000),
            entry("missing", None),
            entry("best", 0.9),
            entry("small", 0.8, trainable=10),
            entry("unknown-size", 0.8, trainable=None),
        ]
    )
    [board] = boards
    assert (board.key, board.primary_metric, board.greater_is_better) == (
        ("text-classification", "logistics_demand", "test"),
        "f1_macro",
        True,
    )
    assert [(r.rank, r.entry.model) for r in board.rows] == [
        (1, "best"),
        (2, "small"),  # equal scores share a rank (issue 33: it was 2, 3, 4); the cheapest is listed first
        (2, "big"),
        (2, "unknown-size"),
        (None, "missing"),
    ]
    assert board.rows[0].score == 0.9
    assert board.rows[-1].note and "f1_macro" in board.rows[-1].note
    assert all(r.note is None for r in board.rows[:-1])


def test_full_ties_share_a_rank():
    board = group_and_rank([entry("a", 0.8), entry("b", 0.8), entry("c", 0.7)])[0]
    assert [r.rank for r in board.rows] == [1, 1, 3]


def test_four_equal_scores_share_rank_one_whatever_their_sizes():
    """Four runs at 1.000 were ranked 1, 2, 2, 4 (ties broken by trainable params) (issue 33)."""
    sizes = [20_000, 5_000, 5_000, None]
    board = group_and_rank([entry(f"m{i}", 1.0, trainable=n) for i, n in enumerate(sizes)])[0]
    assert [r.rank for r in board.rows] == [1, 1, 1, 1]
    assert [r.entry.model for r in board.rows] == ["m1", "m2", "m0", "m3"]  # fewer trainable params first
    assert [r.vs_leader for r in board.rows] == ["leader", "tied", "tied", "tied"]


def test_rank_lower_is_better_for_regression():
    entries = [
        entry_from_results(regression_results(m, rmse), source="run")
        for m, rmse in [("a", 3.0), ("b", 1.0), ("c", 2.0)]
    ]
    [board] = group_and_rank(entries)
    assert (board.primary_metric, board.direction) == ("rmse", "lower")
    assert [r.entry.model for r in board.rows] == ["b", "c", "a"]
    assert board.metric_names[:3] == ["rmse", "mae", "r2"]


def test_groups_are_separate_boards_sorted_by_key():
    entries = [
        entry("a", 0.8, dataset="hs_codes"),
        entry("b", 0.9),
        entry("c", 0.7, split="validation"),
        entry_from_results(regression_results("r", 1.0), source="run"),
    ]
    keys = [b.key for b in group_and_rank(entries)]
    assert keys == [
        ("text-classification", "hs_codes", "test"),
        ("text-classification", "logistics_demand", "test"),
        ("text-classification", "logistics_demand", "validation"),
        ("text-regression", "logistics_demand", "test"),
    ]


def test_board_primary_is_the_majority_and_card_entries_join_run_boards():
    hub = entries_from_card("org/m", card_text([result("accuracy", 0.95)]))  # card has accuracy only
    board = group_and_rank([entry("a", 0.8), entry("b", 0.9), *hub])[0]
    assert board.primary_metric == "f1_macro"
    assert [(r.rank, r.entry.model) for r in board.rows] == [(1, "b"), (2, "a"), (None, "org/m")]


# --- build_leaderboard ---------------------------------------------------------------------------


def test_build_leaderboard_end_to_end(write_run, tmp_path, monkeypatch):
    runs = [write_run("a", eval_results("runs/a", f1=0.7)), write_run("b", eval_results("runs/b", f1=0.9))]
    seen = []

    def fake_hub(repo_id, revision=None):
        seen.append((repo_id, revision))
        return entries_from_card(repo_id, card_text([result("f1_macro", 0.8)]), revision)

    monkeypatch.setattr(leaderboard, "entries_from_hub", fake_hub)
    extra = [entry("bench", 0.85)]
    boards, text = build_leaderboard(runs, ["org/m@v2"], tmp_path / "out", extra_entries=extra)
    assert seen == [("org/m", "v2")]
    assert [r.entry.model for r in boards[0].rows] == ["runs/b", "bench", "org/m", "runs/a"]
    assert text.index("runs/b") < text.index("bench") < text.index("org/m") < text.index("runs/a")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "leaderboard.csv",
        "leaderboard.html",
        "leaderboard.md",
        "leaderboard.png",
    ]
    assert json.loads((runs[0] / "eval_results.json").read_text())["model"] == "runs/a"  # inputs untouched


def test_build_leaderboard_without_out_dir_writes_nothing_and_empty_input_fails(write_run, tmp_path):
    boards, text = build_leaderboard([write_run("a", eval_results("runs/a"))], [], None)
    assert len(boards) == 1 and "runs/a" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs"]
    with pytest.raises(FieldtuneError, match="Nothing to rank"):
        build_leaderboard([], [], None)
