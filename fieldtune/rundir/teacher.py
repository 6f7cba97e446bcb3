"""`distill.teacher`: the run directory a distilled run learns from, checked before anything heavy (no torch:
the preflight runs it). Its labels are compared with the student's once the data is built
(`fieldtune.trainers.distillation`), where both sets are known."""

from __future__ import annotations

from pathlib import Path

from fieldtune.errors import RunDirError
from fieldtune.rundir.reader import RESULTS_FILE, RunDirectory

WHAT = "the run directory of a finished fieldtune run (what `fieldtune train` wrote: config.yaml, model/)"


def check_teacher(teacher: str, task: str) -> RunDirectory:
    """The teacher run of a `task` run: it exists, is a finished fieldtune run, and trained the same task."""
    path = Path(teacher).expanduser()
    if not teacher or not path.exists():
        raise RunDirError(f"`distill.teacher`: {teacher or '(empty)'} does not exist; give {WHAT}.")
    run = RunDirectory.at(path)
    if run is None:
        raise RunDirError(
            f"`distill.teacher`: {path} is not a fieldtune run directory (no config.yaml); give {WHAT}."
        )
    if not run.finished:
        raise RunDirError(
            f"`distill.teacher`: {path} is an unfinished run (no {RESULTS_FILE}, or marked incomplete); finish it"
            " with `fieldtune train ... --resume` or give another teacher."
        )
    if (run.check(finished=True).results.get("baseline") or {}).get("library") == "scikit-learn":
        raise RunDirError(
            f"`distill.teacher`: {path} is a TF-IDF baseline run, not a fine-tuned model; give a run of"
            " `fieldtune train` (e.g. a larger model's full fine-tune)."
        )
    teacher_task = run.config.get("task") or "text-classification"
    if teacher_task != task:
        raise RunDirError(
            f"`distill.teacher`: {path} is a {teacher_task} run; a {task} run learns from a {task} teacher"
            " with the same labels."
        )
    return run
