"""`fieldtune sweep` end to end on the tiny BERT: a 2 x 2 grid killed with SIGKILL in trial 3, then run again
by two processes on one journal storage, resumes trial 3 and runs trial 4 only, disjointly; a search prunes a
trial that is clearly worse; best.yaml is a recipe `fieldtune train` accepts."""

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


def _ran(out: str) -> dict[str, bool]:
    """`Trial NAME: validation ... (resumed)` lines -> {name: resumed}."""
    lines = [line for line in out.splitlines() if line.startswith("Trial ") and ": validation" in line]
    return {line.split(":")[0].removeprefix("Trial "): line.endswith("(resumed)") for line in lines}


def test_grid_killed_in_trial_3_then_two_workers_resume_it_and_run_trial_4_only(tiny_bert, tmp_path):
    """SIGKILL in trial 3 of a 2 x 2 grid; then the same command in two processes started together on the
    sweep's journal: between them they run trial 3 (resumed from its checkpoint) and trial 4, each once."""
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

    workers = [subprocess.Popen(_cli("fieldtune", *argv), cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]  # fmt: skip
    outs = [w.communicate(timeout=300) for w in workers]
    for w, (_, err) in zip(workers, outs, strict=True):
        assert w.returncode == 0, err[-2000:]
    ran = [_ran(out) for out, _ in outs]
    assert not set(ran[0]) & set(ran[1])  # disjoint
    assert {**ran[0], **ran[1]} == {NAMES[2]: True, NAMES[3]: False}  # trial 3 resumed, trial 4, nothing else
    after = {n: (sweep / n / "eval_results.json").stat().st_mtime_ns for n in NAMES[:2]}
    # trial 3 went on from checkpoint-2 (a fresh start would have written it again) to checkpoint-4
    assert {**after, NAMES[2]: kept.stat().st_mtime_ns} == before
    state = json.loads((third / "checkpoints" / "checkpoint-4" / "trainer_state.json").read_text())
    assert [h["step"] for h in state["log_history"] if "eval_loss" in h] == [2, 4]
    assert finished(sweep) == sorted(NAMES)

    plan, manifest = prepare_sweep(config, [], grid=GRID[1::2], output_dir=sweep, quiet=True)
    trials = study_of(sweep, plan).trials
    done = [t for t in trials if t.state.name == "COMPLETE"]
    assert sorted(t.user_attrs[RUN_NAME] for t in done) == sorted(NAMES)  # each point once
    failed = [t for t in trials if t.state.name == "FAIL"]
    assert [t.user_attrs[RUN_NAME] for t in failed if not t.user_attrs.get(SKIPPED)] == [
        NAMES[2]
    ]  # the killed try
    board = (sweep / "leaderboard" / "leaderboard.csv").read_text()
    assert all(n in board for n in NAMES)
    assert any("Best on validation f1_macro" in out for out, _ in outs)

    # best.yaml: chosen on validation, and a recipe `fieldtune train` runs as it is
    best = yaml.safe_load((sweep / "best.yaml").read_text())
    chosen = max(done, key=lambda t: (t.value, -t.number))
    assert best["name"].endswith(chosen.user_attrs[RUN_NAME])
    run_best = [
        "train",
        str(sweep / "best.yaml"),
        "--output-dir",
        str(tmp_path / "best"),
        "--training.max_steps=1",
    ]
    assert main(run_best) == 0

    # the same command once more: nothing left to run
    assert run_sweep(plan, manifest)[0] == []


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
