"""Terminal, CSV, Markdown, PNG and HTML rendering of boards, and atomic writes."""

from __future__ import annotations

import csv
import os
from html.parser import HTMLParser
from pathlib import Path

import pytest

from fieldtune.leaderboard import group_and_rank, render_terminal, write_outputs
from fieldtune.leaderboard.collect import entry_from_results
from fieldtune.leaderboard.render import atomic_write, render_markdown

from .conftest import eval_results, regression_results


@pytest.fixture
def boards():
    entries = [
        entry_from_results(eval_results("runs/a", f1=0.7, trainable=9), source="run"),
        entry_from_results(eval_results("org/b<script>", f1=0.9, trainable=100), source="hub"),
        entry_from_results(eval_results("runs/c|pipe", f1=None, trainable=25), source="run"),
        entry_from_results(regression_results("runs/r1", 2.0), source="run"),
        entry_from_results(regression_results("runs/r2", 1.0), source="run"),
    ]
    return group_and_rank(entries)


def test_render_terminal(boards):
    text = render_terminal(boards)
    lines = text.splitlines()
    assert lines[0] == "text-classification / logistics_demand / test: ranked by f1_macro (higher is better)"
    header = lines[1].split()
    assert header[:4] == ["rank", "model", "source", "f1_macro"]
    assert header[-4:] == ["method", "params", "trainable", "samples/s"]
    assert {"accuracy", "precision_macro", "recall_macro"} <= set(header)
    assert lines[3].split()[:4] == ["1", "org/b<script>", "hub", "0.9000"]
    assert lines[4].split()[:4] == ["2", "runs/a", "run", "0.7000"]
    assert lines[5].split()[:4] == ["-", "runs/c|pipe", "run", "-"]
    assert "note: runs/c|pipe: no `f1_macro` score" in lines[6]
    assert "22.0M" in lines[3] and "85.2" in lines[3]
    # Columns line up: every row of a table has the header's width (trailing spaces stripped).
    assert len({len(line) for line in lines[1:6]}) <= 2
    assert "text-regression / logistics_demand / test: ranked by rmse (lower is better)" in text
    assert text.index("runs/r2") < text.index("runs/r1")
    assert render_terminal([]) == "No entries to rank."


def test_write_outputs_csv(boards, tmp_path):
    paths = write_outputs(boards, tmp_path / "out")
    assert set(paths) == {"csv", "md", "png", "html"}
    assert all(p.parent == tmp_path / "out" and p.name == f"leaderboard.{k}" for k, p in paths.items())
    with paths["csv"].open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["model"] for r in rows] == ["org/b<script>", "runs/a", "runs/c|pipe", "runs/r2", "runs/r1"]
    assert [r["rank"] for r in rows] == ["1", "2", "", "1", "2"]
    first, unranked, reg = rows[0], rows[2], rows[3]
    assert (first["task"], first["dataset"], first["split"]) == (
        "text-classification",
        "logistics_demand",
        "test",
    )
    assert (first["primary_metric"], first["greater_is_better"], first["primary_value"]) == (
        "f1_macro",
        "True",
        "0.9",
    )
    assert (reg["primary_metric"], reg["greater_is_better"], reg["rmse"]) == ("rmse", "False", "1.0")
    assert (first["trainable_params"], first["total_params"], first["source"]) == ("100", "22000000", "hub")
    assert reg["f1_macro"] == "" and unranked["f1_macro"] == ""
    assert "no `f1_macro`" in unranked["note"]


def test_write_outputs_markdown_and_png(boards, tmp_path):
    paths = write_outputs(boards, tmp_path)
    md = paths["md"].read_text()
    assert md.count("\n## ") == 2
    assert "| rank | model | source | f1_macro |" in md
    assert "| 1 | org/b<script> | hub | 0.9000 |" in md
    assert r"runs/c\|pipe" in md  # a pipe in a name must not split the cell
    assert "Ranked by `rmse` (lower is better)." in md
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert render_markdown([]).startswith("# Leaderboard")


class _TableParser(HTMLParser):
    """Collects table ids, header keys, row ranks and every URL-bearing attribute."""

    def __init__(self):
        super().__init__()
        self.tables, self.urls, self.tags = [], [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        if tag == "table":
            self.tables.append(
                {"id": attrs.get("id"), "keys": [], "ranks": [], "primary": attrs.get("data-primary")}
            )
        elif tag == "th":
            self.tables[-1]["keys"].append(attrs.get("data-key"))
        elif tag == "tr" and "data-rank" in attrs:
            self.tables[-1]["ranks"].append(attrs["data-rank"])
        self.urls += [v for k, v in attrs.items() if k in ("src", "href") and v]


def test_html_is_self_contained_with_sortable_tables(boards, tmp_path):
    page = write_outputs(boards, tmp_path)["html"].read_text()
    parser = _TableParser()
    parser.feed(page)
    assert [t["id"] for t in parser.tables] == ["board-1", "board-2"]
    first = parser.tables[0]
    assert first["ranks"] == ["1", "2", ""]
    assert first["keys"][:4] == ["rank", "model", "source", "f1_macro"]
    assert "trainable_params" in first["keys"] and first["primary"] == "f1_macro"
    # No network needed: the chart is inline, no external script, stylesheet or image.
    assert parser.urls and all(url.startswith("data:image/png;base64,") for url in parser.urls)
    assert "link" not in parser.tags and "<script>" in page and "<style>" in page
    assert "org/b&lt;script&gt;" in page and "org/b<script>" not in page  # names are escaped


def test_atomic_write_leaves_no_temp_and_keeps_the_old_file_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "leaderboard.csv"
    atomic_write(target, b"old")
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["leaderboard.csv"]

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["leaderboard.csv"]  # the temp file was cleaned up


def test_write_outputs_with_no_boards(tmp_path):
    paths = write_outputs([], Path(tmp_path))
    assert all(p.exists() for p in paths.values())


def test_ensemble_runs_are_marked_as_ensembles_in_every_format(tmp_path):
    """A run whose eval_results.json has an `ensemble` entry (the fine-tuned model mixed with the TF-IDF
    baseline) says so in its row, in the terminal, Markdown, HTML and CSV boards; a plain run says nothing."""
    ensemble = {
        "baseline_weight": 0.5,
        "combination": "weighted geometric mean of class probabilities",
        "baseline_model": "word 1-2 + char_wb 2-5 TF-IDF + LinearSVC (C=1, class weights balanced) "
        "(probabilities: CalibratedClassifierCV, sigmoid)",
        "transformer": {"accuracy": 0.94, "f1_macro": 0.92},
        "baseline": {"accuracy": 0.96, "f1_macro": 0.95},
    }
    boards = group_and_rank(
        [
            entry_from_results(eval_results("runs/hs_minilm", f1=0.95, ensemble=ensemble), source="run"),
            entry_from_results(eval_results("runs/hs_minilm_alone", f1=0.92), source="run"),
        ]
    )
    marker = "ensemble: all-MiniLM-L6-v2 + TF-IDF LinearSVC (w 0.5)"
    rows = render_terminal(boards).splitlines()[3:5]
    assert rows[0].split()[:2] == ["1", "runs/hs_minilm"] and marker in rows[0]
    assert rows[1].split()[:2] == ["2", "runs/hs_minilm_alone"] and "ensemble" not in rows[1]
    paths = write_outputs(boards, tmp_path)
    md_rows = [line for line in paths["md"].read_text().splitlines() if line.startswith("| 1 |")]
    assert len(md_rows) == 1 and f"| {marker} |" in md_rows[0]
    page = paths["html"].read_text()
    assert (
        f'<td data-value="{marker}">{marker}</td>' in page and page.count('<td data-value="ensemble: ') == 1
    )
    with paths["csv"].open(newline="") as handle:
        assert [r["ensemble"] for r in csv.DictReader(handle)] == [marker.removeprefix("ensemble: "), ""]
