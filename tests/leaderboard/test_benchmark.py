"""Benchmark specs (YAML, validation), the results cache, and run_benchmark with an injected evaluator."""

from __future__ import annotations

import dataclasses
import json

import pytest

from fieldtune.errors import ConfigError
from fieldtune.leaderboard import build_leaderboard
from fieldtune.leaderboard.benchmark import (
    BenchmarkSpec,
    ResultCache,
    load_benchmark_spec,
    resolve_model_revision,
    run_benchmark,
    split_model_ref,
)

from .conftest import eval_results

SPEC_YAML = """\
name: demand-v1
task: text-classification
dataset: {builder: logistics_demand, seed: 0}
split: test
primary_metric: accuracy
"""


@pytest.fixture
def spec(tmp_path) -> BenchmarkSpec:
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC_YAML)
    return load_benchmark_spec(path)


class CountingEvaluator:
    """Stands in for the real evaluator: scores from a table, and counts calls per model."""

    def __init__(self, scores: dict[str, float]):
        self.scores, self.calls = scores, []

    def __call__(self, model_ref: str, spec: BenchmarkSpec):
        self.calls.append(model_ref)
        score = self.scores[model_ref]
        return eval_results(
            model_ref, f1=score - 0.05, accuracy=score, dataset="whatever"
        ), "rev-" + model_ref


def fixed_revision(model_ref: str) -> str:
    return "sha-of-" + model_ref


# --- spec --------------------------------------------------------------------------------------


def test_load_spec(spec):
    assert spec == BenchmarkSpec(
        name="demand-v1",
        task="text-classification",
        dataset={"builder": "logistics_demand", "seed": 0},
        split="test",
        primary_metric="accuracy",
    )


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            SPEC_YAML.replace("primary_metric:", "primary_metrc:"),
            "Unknown key `primary_metrc`.*did you mean `primary_metric`",
        ),
        (SPEC_YAML + "zzz: 1\n", "Unknown key `zzz`.*valid keys: name, task, dataset, split, primary_metric"),
        ("name: x\ntask: text-classification\n", "lacks `dataset`"),
        (
            SPEC_YAML.replace("task: text-classification", "task: text-clasification"),
            "did you mean `text-classification`",
        ),
        (
            SPEC_YAML.replace("dataset: {builder: logistics_demand, seed: 0}", "dataset: logistics"),
            "`dataset`.*mapping",
        ),
        (SPEC_YAML.replace("name: demand-v1", "name: 3"), "`name`.*non-empty string"),
        ("- a list\n", "must be a YAML mapping"),
        ("name: [unclosed\n", "not valid YAML"),
    ],
    ids=["typo", "unknown", "missing", "task", "dataset", "name", "list", "yaml"],
)
def test_bad_specs_raise_config_error(tmp_path, text, expected):
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=expected) as info:
        load_benchmark_spec(path)
    assert "\n" not in str(info.value)


def test_missing_spec_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot be read"):
        load_benchmark_spec(tmp_path / "absent.yaml")


def test_spec_hash_follows_what_changes_scores(spec, tmp_path):
    assert spec.spec_hash == dataclasses.replace(spec).spec_hash
    assert spec.spec_hash == dataclasses.replace(spec, name="renamed", primary_metric="f1_macro").spec_hash
    assert spec.spec_hash != dataclasses.replace(spec, split="validation").spec_hash
    assert (
        spec.spec_hash
        != dataclasses.replace(spec, dataset={"builder": "logistics_demand", "seed": 1}).spec_hash
    )
    data = tmp_path / "data.csv"
    data.write_text("text,label\na,1\n")
    with_file = dataclasses.replace(spec, dataset={"builder": "text_table", "path": str(data)})
    before = with_file.spec_hash
    data.write_text("text,label\na,1\nb,0\n")  # edited data file at the same path
    assert with_file.spec_hash != before


# --- cache and run_benchmark ---------------------------------------------------------------------


def test_cache_hit_avoids_a_second_evaluation(spec, tmp_path):
    cache = ResultCache(tmp_path / "cache")
    evaluate = CountingEvaluator({"org/a": 0.8, "runs/b": 0.9})
    first = run_benchmark(spec, ["org/a", "runs/b"], evaluate, cache, resolve_revision=fixed_revision)
    second = run_benchmark(spec, ["org/a", "runs/b"], evaluate, cache, resolve_revision=fixed_revision)
    assert evaluate.calls == ["org/a", "runs/b"]
    assert first == second
    e = first[0]
    assert (e.model, e.source, e.task, e.dataset, e.split) == (
        "org/a",
        "benchmark",
        "text-classification",
        "demand-v1",
        "test",
    )
    assert (e.primary_metric, e.metrics["accuracy"], e.revision) == ("accuracy", 0.8, "sha-of-org/a")
    record = json.loads(cache.path("org/a", "sha-of-org/a", spec.spec_hash).read_text())
    assert record["results"]["metrics"]["accuracy"] == 0.8


def test_changed_spec_or_revision_misses(spec, tmp_path):
    cache = ResultCache(tmp_path / "cache")
    evaluate = CountingEvaluator({"org/a": 0.8})
    run_benchmark(spec, ["org/a"], evaluate, cache, resolve_revision=fixed_revision)
    changed = dataclasses.replace(spec, dataset={"builder": "logistics_demand", "seed": 1})
    run_benchmark(changed, ["org/a"], evaluate, cache, resolve_revision=fixed_revision)
    assert len(evaluate.calls) == 2
    run_benchmark(spec, ["org/a"], evaluate, cache, resolve_revision=lambda ref: "a-newer-commit")
    assert len(evaluate.calls) == 3
    run_benchmark(changed, ["org/a"], evaluate, cache, resolve_revision=fixed_revision)
    assert len(evaluate.calls) == 3  # both specs stay cached side by side


def test_unknown_revision_skips_lookup_but_stores_under_the_evaluated_one(spec, tmp_path):
    cache = ResultCache(tmp_path / "cache")
    evaluate = CountingEvaluator({"org/a": 0.8})
    for _ in range(2):
        [e] = run_benchmark(spec, ["org/a"], evaluate, cache, resolve_revision=lambda ref: None)
    assert len(evaluate.calls) == 2
    assert e.revision == "rev-org/a"
    assert cache.get("org/a", "rev-org/a", spec.spec_hash)["model"] == "org/a"


def test_corrupt_cache_file_is_a_miss_and_no_cache_always_evaluates(spec, tmp_path):
    cache = ResultCache(tmp_path / "cache")
    evaluate = CountingEvaluator({"org/a": 0.8})
    run_benchmark(spec, ["org/a"], evaluate, cache, resolve_revision=fixed_revision)
    cache.path("org/a", "sha-of-org/a", spec.spec_hash).write_text("{truncated")
    run_benchmark(spec, ["org/a"], evaluate, cache, resolve_revision=fixed_revision)
    run_benchmark(spec, ["org/a"], evaluate, None, resolve_revision=fixed_revision)
    assert len(evaluate.calls) == 3


def test_cache_keys_do_not_collide():
    cache = ResultCache("/tmp/x")
    assert cache.path("a/b", "r", "h") != cache.path("a--b", "r", "h")
    assert cache.path("a", "refs/pr/1", "h").parent.name == "h"


def test_local_model_revision_follows_the_weights(tmp_path):
    run = tmp_path / "run"
    (run / "model").mkdir(parents=True)
    (run / "model" / "model.safetensors").write_bytes(b"weights-1")
    before = resolve_model_revision(str(run))
    assert before.startswith("local-")
    (run / "predictions.csv").write_text("written by evaluate")  # outputs beside the model do not count
    assert resolve_model_revision(str(run)) == before
    (run / "model" / "model.safetensors").write_bytes(b"weights-2, retrained")
    assert resolve_model_revision(str(run)) != before


def test_model_refs_with_revisions():
    sha = "a" * 40
    assert split_model_ref(f"org/m@{sha}") == ("org/m", sha)
    assert split_model_ref("org/m") == ("org/m", None)
    assert resolve_model_revision(f"org/m@{sha}") == sha  # a pinned commit needs no API call


def test_benchmark_entries_rank_on_their_own_board(spec, tmp_path, write_run):
    evaluate = CountingEvaluator({"org/a": 0.8, "org/b": 0.9})
    entries = run_benchmark(spec, ["org/a", "org/b"], evaluate, ResultCache(tmp_path / "c"), fixed_revision)
    run = write_run("r", eval_results("runs/r", f1=0.99))
    boards, text = build_leaderboard([run], [], None, extra_entries=entries)
    by_dataset = {b.dataset: b for b in boards}
    bench = by_dataset["demand-v1"]
    assert (bench.primary_metric, [r.entry.model for r in bench.rows]) == ("accuracy", ["org/b", "org/a"])
    assert [r.entry.model for r in by_dataset["logistics_demand"].rows] == ["runs/r"]
    assert "demand-v1" in text
