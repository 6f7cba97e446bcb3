"""`sweep --cv K` chooses by the CV mean only when a paired bootstrap over the out-of-fold rows agrees:
two trials whose means differ by noise are tied and the earlier one stays; a clear gain replaces it."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fieldtune.sweep.cv_choice import Candidate, choose, paired

N = 200
LABELS = np.array(["calm", "urgent"] * (N // 2))


def _trial(tmp_path, name: str, wrong: set[int]) -> Candidate:
    """A trial directory whose out-of-fold predictions miss exactly the rows in `wrong`."""
    other = {"calm": "urgent", "urgent": "calm"}
    predicted = [other[y] if i in wrong else y for i, y in enumerate(LABELS)]
    run_dir = tmp_path / name
    run_dir.mkdir()
    rng = np.random.default_rng(0)  # oof_predictions.csv is sorted by row; fold numbers do not matter here
    pd.DataFrame({"row": range(N), "fold": rng.integers(0, 3, N), "text": [f"note {i}" for i in range(N)],
                  "label": LABELS, "predicted": predicted}).to_csv(run_dir / "oof_predictions.csv", index=False)  # fmt: skip
    return Candidate(name, 1 - len(wrong) / N, run_dir)


def test_a_mean_ahead_by_noise_is_a_tie_and_the_earlier_trial_stays(tmp_path):
    rng = np.random.default_rng(1)
    first = _trial(tmp_path, "trial-0000", set(rng.choice(N, 40, replace=False).tolist()))
    noisy = _trial(tmp_path, "trial-0001", set(rng.choice(N, 36, replace=False).tolist()))  # other rows wrong
    assert noisy.mean > first.mean  # 0.82 vs 0.80: what a plain comparison of means would pick
    test = paired(first, noisy, "classes", "accuracy")
    assert test["difference"] == np.float64(0.02).round(5) and test["interval"][0] < 0 < test["interval"][1]
    best, lines = choose([first, noisy], "classes", "accuracy", greater_is_better=True)
    assert best is first
    assert "tied (the interval holds 0)" in lines[1] and lines[1].endswith("trial-0000 is best so far")

    clear = _trial(
        tmp_path, "trial-0002", set(sorted(_wrong(first))[:4])
    )  # 0.98, right where first was wrong
    best, lines = choose([first, noisy, clear], "classes", "accuracy", greater_is_better=True)
    assert best is clear and "better" in lines[2] and lines[2].endswith("trial-0002 is best so far")
    best, lines = choose([noisy, first], "classes", "accuracy", greater_is_better=True)
    assert best is noisy and "no better CV mean" in lines[1]  # the later one is not even ahead


def _wrong(c: Candidate) -> set[int]:
    df = pd.read_csv(c.run_dir / "oof_predictions.csv")
    return set(df.index[df["label"] != df["predicted"]])


def test_trials_on_other_rows_fall_back_to_the_cv_mean(tmp_path):
    first = _trial(tmp_path, "a", set(range(40)))
    other = _trial(tmp_path, "b", set(range(38)))
    df = pd.read_csv(other.run_dir / "oof_predictions.csv")
    df.iloc[:-1].to_csv(other.run_dir / "oof_predictions.csv", index=False)  # one row fewer: not paired
    assert paired(first, other, "classes", "accuracy") is None
    best, lines = choose([first, other], "classes", "accuracy", greater_is_better=True)
    assert best is other and "no paired test" in lines[1]


def test_the_sweep_passes_the_task_s_targets_and_the_paired_test_still_runs(tmp_path):
    """`sweep/report.py` hands `choose` the Task's Targets object; before, the interval-metric table was keyed
    by name, so no metric matched the object and every sweep fell back to the CV means."""
    from fieldtune.tasks.table import TASKS

    first = _trial(tmp_path, "trial-0000", set(range(40)))
    clear = _trial(tmp_path, "trial-0001", set(range(4)))
    test = paired(first, clear, TASKS["text-classification"].targets, "accuracy")
    assert test is not None and test["significant"] and test["rows"] == N
    best, lines = choose(
        [first, clear], TASKS["text-classification"].targets, "accuracy", greater_is_better=True
    )
    assert best is clear and "better" in lines[1]
