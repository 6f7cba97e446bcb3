"""The run directory: the contract every later step (evaluate, predict, export, push, leaderboard) reads.

```
runs/<name>/
  config.yaml  model/  eval_results.json  predictions.csv  plots/  README.md  logs/  checkpoints/
```
Result files are written atomically (temp file + rename), and a run that has not finished carries an
`.incomplete` marker so that nothing downstream mistakes it for a finished run.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from fieldtune.errors import RunDirError

INCOMPLETE = ".incomplete"
RUN_FILES = ("config.yaml", "eval_results.json", "model")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def is_run_dir(path: Path) -> bool:
    return path.is_dir() and (path / "config.yaml").is_file()


def check_run_dir_free(run_dir: Path, overwrite: bool, resume: bool) -> None:
    """Refuse to train into an existing folder unless told to (`--overwrite` / `--resume`)."""
    if resume:
        if not run_dir.is_dir():
            raise RunDirError(f"--resume: {run_dir} does not exist; start the run without --resume.")
        return
    if not run_dir.exists() or (run_dir.is_dir() and not any(run_dir.iterdir())):
        return
    if not overwrite:
        raise RunDirError(
            f"Run directory {run_dir} already exists; pass --overwrite to replace it or --resume to continue it."
        )
    if not is_run_dir(run_dir):
        raise RunDirError(
            f"--overwrite: {run_dir} is not a fieldtune run directory (no config.yaml); refusing to delete it."
        )


def start_run_dir(run_dir: Path, overwrite: bool, resume: bool) -> None:
    """Create (or clear, with overwrite) the run directory, marked incomplete until `finish_run_dir`."""
    check_run_dir_free(run_dir, overwrite, resume)
    if overwrite and not resume and run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / INCOMPLETE).touch()


def finish_run_dir(run_dir: Path) -> None:
    (run_dir / INCOMPLETE).unlink(missing_ok=True)


def read_eval_results(run_dir: Path) -> dict:
    path = run_dir / "eval_results.json"
    if (run_dir / INCOMPLETE).exists():
        raise RunDirError(f"{run_dir} is an unfinished run; finish it with `fieldtune train ... --resume`.")
    if not path.is_file():
        raise RunDirError(f"{run_dir} has no eval_results.json; is it a finished fieldtune run directory?")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise RunDirError(f"{path} is not valid JSON; re-run the evaluation to rewrite it.") from None


def model_dir_of(ref: Path) -> Path:
    """A run directory -> its `model/`; a model folder -> itself."""
    if (ref / "model").is_dir():
        return ref / "model"
    if (ref / "config.json").is_file() or (ref / "adapter_config.json").is_file():
        return ref
    raise RunDirError(
        f"{ref} is neither a fieldtune run directory nor a saved model folder (no model/ or config.json)."
    )
