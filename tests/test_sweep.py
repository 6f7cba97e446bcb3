"""`fieldtune sweep` end to end on the tiny BERT: a 2 x 2 grid killed with SIGKILL in trial 3 resumes trial 3
and runs trial 4 only; two processes on one journal storage run disjoint trials; a search prunes a trial that
is clearly worse; best.yaml is a recipe `fieldtune train` accepts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fieldtune.cli import main
from fieldtune.sweep import prepare_sweep, run_sweep
from fieldtune.sweep.study import RUN_NAME, SKIPPED, create_study, open_storage

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
GRID = ["--grid", "method.name=full,lora", "--grid", "training.learning_rate=0.003,0.001"]
NAMES = [
    "full_learning_rate-0.003",
    "full_learning_rate-0.001",
    "lora_learning_rate-0.003",
    "lora_learning_rate-0.001",
]


def recipe(tmp_path: Path, model: Path, task: str = "text-classification") -> Path:
    cfg = {
        "task": task,
        "model": {"name_or_path": str(model), "max_length": 32},
        "data": {"builder": "logistics_demand", "num_samples": 60},
        "method": {"lora_r": 4},
        "training": {"max_steps": 4, "per_device_train_batch_size": 8, "learning_rate": 3e-3, "seed": 1,
                     "save_strategy": "steps", "save_steps": 2, "eval_strategy": "steps", "eval_steps": 2,
                     "save_total_limit": 2, "logging_steps": 2},
    }  # fmt: skip
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _cli(*argv: str) -> list[str]:
    return [sys.executable, "-m", *argv]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}


def finished(sweep: Path) -> list[str]:
    return sorted(
        p.parent.name for p in sweep.glob("*/eval_results.json") if not (p.parent / ".incomplete").exists()
    )


def study_of(sweep: Path, plan) -> object:
    return create_study(open_storage(None, sweep), plan.study_name, plan.greater_is_better, 1, 0)


def test_grid_killed_in_trial_3_resumes_it_and_runs_trial_4_only(tiny_bert, tmp_path):
    config, sweep = recipe(tmp_path, tiny_bert), tmp_path / "sweep"
    argv = ["sweep", str(config), *GRID, "--output-dir", str(sweep)]
    proc = subprocess.run(
        _cli("tests.kill_driver", "step:3@3", *argv),
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert finished(sweep) == sorted(NAMES[:2])
    third = sweep / NAMES[2]
    assert (third / ".incomplete").exists() and list((third / "checkpoints").glob("checkpoint-2"))
    assert (sweep / "leaderboard" / "leaderboard.html").is_file()  # written after every trial
    before = {n: (sweep / n / "eval_results.json").stat().st_mtime_ns for n in NAMES[:2]}
    kept = third / "checkpoints" / "checkpoint-2" / "trainer_state.json"
    before[NAMES[2]] = kept.stat().st_mtime_ns

    plan, manifest = prepare_sweep(config, [], grid=GRID[1::2], output_dir=sweep, quiet=True)
    outcomes, text = run_sweep(plan, manifest)

    assert {o.run_name: o.resumed for o in outcomes} == {NAMES[2]: True, NAMES[3]: False}
    after = {n: (sweep / n / "eval_results.json").stat().st_mtime_ns for n in NAMES[:2]}
    # trial 3 went on from checkpoint-2 (a fresh start would have written it again) to checkpoint-4
    assert {**after, NAMES[2]: kept.stat().st_mtime_ns} == before
    state = json.loads((third / "checkpoints" / "checkpoint-4" / "trainer_state.json").read_text())
    assert [h["step"] for h in state["log_history"] if "eval_loss" in h] == [2, 4]
    assert finished(sweep) == sorted(NAMES)
    study = study_of(sweep, plan)
    done = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert sorted(t.user_attrs[RUN_NAME] for t in done) == sorted(NAMES)
    board = (sweep / "leaderboard" / "leaderboard.csv").read_text()
    assert all(n in board for n in NAMES) and "Best on validation f1_macro" in text
    for name in ("leaderboard.md", "leaderboard.html"):
        assert (sweep / "leaderboard" / name).is_file()

    # best.yaml: chosen on validation, and a recipe `fieldtune train` runs as it is
    best = yaml.safe_load((sweep / "best.yaml").read_text())
    chosen = max(done, key=lambda t: (t.value, -t.number))
    assert best["name"].endswith(chosen.user_attrs[RUN_NAME])
    assert (
        main(
            [
                "train",
                str(sweep / "best.yaml"),
                "--output-dir",
                str(tmp_path / "best-run"),
                "--training.max_steps=1",
            ]
        )
        == 0
    )

    # the same command once more: nothing left to run
    plan, manifest = prepare_sweep(config, [], grid=GRID[1::2], output_dir=sweep, quiet=True)
    assert run_sweep(plan, manifest)[0] == []


def test_two_workers_on_one_journal_run_disjoint_trials(tiny_bert, tmp_path):
    config, sweep = recipe(tmp_path, tiny_bert), tmp_path / "sweep"
    argv = ["fieldtune", "sweep", str(config), *GRID[:2], "--output-dir", str(sweep)]
    names = {"full", "lora"}
    # two independent processes started together: both create the study and enqueue the grid
    procs = [subprocess.Popen(_cli(*argv), cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]  # fmt: skip
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err[-2000:]
    ran = [{line.split(":")[0].removeprefix("Trial ") for line in out.splitlines() if line.startswith("Trial ")} for out, _ in outs]  # fmt: skip
    assert ran[0].isdisjoint(ran[1]) and ran[0] | ran[1] == names
    assert set(finished(sweep)) == names
    plan, _ = prepare_sweep(config, [], grid=GRID[1:2], output_dir=sweep, quiet=True)
    trials = study_of(sweep, plan).trials
    complete = [t.user_attrs[RUN_NAME] for t in trials if t.state.name == "COMPLETE"]
    assert sorted(complete) == sorted(names)  # each point run once
    assert all(t.user_attrs.get(SKIPPED) for t in trials if t.state.name != "COMPLETE")


def test_search_prunes_a_clearly_worse_trial(tiny_bert, tmp_path):
    config = recipe(tmp_path, tiny_bert, task="text-regression")  # rmse: every trial scores differently
    space = tmp_path / "space.yaml"
    space.write_text(
        yaml.safe_dump({"training.learning_rate": {"type": "categorical", "choices": [0.0001, 5.0]}})
    )
    sweep = tmp_path / "search"
    # seed 2: TPE's first (random) draws are 1e-4, 1e-4, 1e-4, 5.0, so the last one meets a median
    plan, manifest = prepare_sweep(
        config, ["--training.seed=2"], search=space, trials=4, output_dir=sweep, prune_after=1, quiet=True
    )
    outcomes, _ = run_sweep(plan, manifest)
    assert len(outcomes) == 4
    trials = study_of(sweep, plan).trials
    pruned = [t for t in trials if t.state.name == "PRUNED"]
    # a learning rate of 5 diverges (rmse ~4x at the first evaluation); 1e-4 repeats the same scores
    assert pruned and all(t.params["training.learning_rate"] == 5.0 for t in pruned)
    assert all(not (sweep / t.user_attrs[RUN_NAME]).exists() for t in pruned)  # no half-written run left
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    assert len(complete) + len(pruned) == 4
    assert yaml.safe_load((sweep / "best.yaml").read_text())["training"]["learning_rate"] != 5.0
