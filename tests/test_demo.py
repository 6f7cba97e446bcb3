"""`fieldtune demo`: its leaderboard ranks every demo run in the folder, not only the ones this call trained."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from fieldtune.commands.demo import DEMO_DIR
from fieldtune.training.run import RunResult
from tests.leaderboard.conftest import eval_results


def _write_run(run_dir: Path, results: dict) -> RunResult:
    """What `fieldtune train` leaves for the leaderboard: config.yaml and eval_results.json."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text("task: text-classification\n")
    (run_dir / "eval_results.json").write_text(json.dumps(results))
    return RunResult(run_dir, results)


def test_demo_only_keeps_the_other_demo_runs_on_the_leaderboard(tmp_path, monkeypatch):
    from fieldtune.cli import main

    stems = sorted(p.stem for p in DEMO_DIR.glob("*.yaml"))
    assert len(stems) >= 2
    again, others = stems[0], stems[1:]
    out = tmp_path / "demo"
    for stem in others:  # earlier `demo --only` calls, one per other part
        _write_run(out / stem, eval_results(stem, f1=0.7))
    _write_run(out / again, eval_results(again, f1=0.6))
    (out / "unrelated").mkdir()  # not a demo recipe's folder: never ranked

    def fake_run(config, output_dir, overwrite=False):  # trains nothing: writes the run's results
        return _write_run(Path(output_dir), eval_results(Path(output_dir).name, f1=0.9))

    monkeypatch.setattr("fieldtune.training.run.run", fake_run)
    args = ["demo", "--only", again, "--overwrite", "--output-dir", str(out), "--training.max_steps=1"]
    assert main(args) == 0
    board = pd.read_csv(out / "leaderboard" / "leaderboard.csv")
    assert sorted(board["model"]) == stems
    assert board.set_index("model").loc[again, "f1_macro"] == 0.9  # the re-run, not its earlier result
