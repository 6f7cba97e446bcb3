"""The run directory: the contract every later step (evaluate, predict, export, push, leaderboard) reads.

```
runs/<name>/
  config.yaml  model/  eval_results.json  predictions.csv  plots/  README.md  logs/  checkpoints/
  pretraining/   (`pretraining.epochs` > 0) encoder/ (the adapted encoder), pretraining.json, checkpoints/
```
Result files are written atomically (temp file + rename), and a run that has not finished carries an
`.incomplete` marker so that nothing downstream mistakes it for a finished run.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from fieldtune.errors import RunDirError, file_system_error

INCOMPLETE = ".incomplete"
RUN_FILES = ("config.yaml", "eval_results.json", "model")
BASELINE_FILE = "fieldtune_baseline.json"  # marks a model folder holding a scikit-learn baseline
CV_RESULTS = "cv_results.json"  # marks a cross-validation directory (`fieldtune train --cv K`)
FOLD_PREFIX = "fold-"  # its fold runs: fold-0 ... fold-<K-1>
PRETRAINING = "pretraining"  # the masked-LM phase: its checkpoints, then the adapted encoder
OOF_FILE = "oof_predictions.csv"  # its out-of-fold predictions (`fieldtune.cv.summary`), raw inputs included
logger = logging.getLogger(__name__)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise file_system_error(e, path) from None  # name the file meant, not the temp file
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: Path, data: Any) -> None:
    # ensure_ascii=False: Chinese label names stay readable characters, not \u escapes
    atomic_write_text(
        path, json.dumps(data, indent=2, sort_keys=False, default=str, ensure_ascii=False) + "\n"
    )


def is_run_dir(path: Path) -> bool:
    return path.is_dir() and (path / "config.yaml").is_file()


def _writable(folder: Path) -> bool:
    return os.access(folder, os.W_OK | os.X_OK)


def check_output_path(path: Path, flag: str, kind: str = "file") -> None:
    """Before any work: `path` can be created as a `kind` ("file" or "folder"): it is not the other kind,
    no parent of it is a file, and the nearest existing parent is writable."""
    if kind == "file" and path.is_dir():
        raise RunDirError(f"{flag} {path} is a folder; give the path of a file to write.")
    if kind == "folder" and path.exists() and not path.is_dir():
        raise RunDirError(f"{flag} {path} is a file; give the path of a folder to write.")
    parent = path.absolute().parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise RunDirError(f"{flag} {path}: {parent} is a file, not a folder; fix the path.")
    for folder in (parent, path) if path.is_dir() else (parent,):
        if not _writable(folder):
            raise RunDirError(f"{flag} {path}: {folder} is not writable; choose a location you can write to.")


def check_new_file(path: Path, flag: str, overwrite: bool, inputs: list[str | None] = ()) -> None:
    """A file the command writes: never one of its `inputs` (after resolving links), whatever the flags,
    and an existing file only with --overwrite (a user's file is replaced only when asked)."""
    if not path.exists():
        return
    named = [Path(i).expanduser() for i in inputs if i is not None]
    if any(i.exists() and path.samefile(i) for i in named):
        raise RunDirError(f"{flag} {path} is the input the command reads; write to another file.")
    if not overwrite:
        raise RunDirError(
            f"{flag} {path} already exists; pass --overwrite to replace it or choose a new path."
        )


def check_run_dir_free(run_dir: Path, overwrite: bool, resume: bool) -> None:
    """Refuse to train into an existing folder unless told to (`--overwrite` / `--resume`)."""
    check_output_path(run_dir, "Run directory", kind="folder")
    if resume:
        if not run_dir.is_dir():
            raise RunDirError(f"--resume: {run_dir} does not exist; start the run without --resume.")
        if not is_run_dir(run_dir):  # a user's own folder: training into it would replace its files
            raise RunDirError(
                f"--resume: {run_dir} is not a fieldtune run directory (no config.yaml); "
                "point --output-dir at a run to continue, or start a new run without --resume."
            )
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


def start_run_dir(run_dir: Path, overwrite: bool, resume: bool) -> Path | None:
    """Create the run directory, marked incomplete until `finish_run_dir`.

    With `overwrite`, the old run is not deleted here: it is moved aside into a hidden sibling folder (the
    returned path) and comes back with `restore_run_dir` if the new run fails before it is worth keeping
    (`drop_replaced_run` deletes it once the new run has a checkpoint or has finished).
    """
    check_run_dir_free(run_dir, overwrite, resume)
    replaced = None
    if overwrite and not resume and run_dir.is_dir() and any(run_dir.iterdir()):
        # a sibling on the same file system, so that both moves are renames: nothing is copied or lost
        replaced = Path(tempfile.mkdtemp(dir=run_dir.parent, prefix=f".{run_dir.name}.replaced-"))
        os.replace(run_dir, replaced)
        logger.info("The previous run is kept in %s until the new run has a checkpoint", replaced)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / INCOMPLETE).touch()
    except BaseException:
        restore_run_dir(run_dir, replaced)
        raise
    return replaced


def restore_run_dir(run_dir: Path, replaced: Path | None) -> None:
    """The new run failed: remove what it wrote and put the replaced run back, byte-identical."""
    if replaced is None or not replaced.is_dir():
        return
    shutil.rmtree(run_dir, ignore_errors=True)
    os.replace(replaced, run_dir)


def drop_replaced_run(replaced: Path | None) -> None:
    if replaced is not None:
        shutil.rmtree(replaced, ignore_errors=True)


def drop_replaced_on_save(replaced: Path) -> Any:
    """With --overwrite, the replaced run is deleted once the new run has a checkpoint to resume from."""
    from transformers import TrainerCallback  # here only: the layout is read without transformers

    class DropReplacedRun(TrainerCallback):
        def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            drop_replaced_run(replaced)

    return DropReplacedRun()


def finish_run_dir(run_dir: Path) -> None:
    (run_dir / INCOMPLETE).unlink(missing_ok=True)


def worth_resuming(run_dir: Path) -> bool:
    """A failed run keeps its folder when it has something `--resume` continues from: a checkpoint of the
    fine-tuning or of the pretraining phase, or the finished phase's encoder."""
    folders = (run_dir / "checkpoints", run_dir / PRETRAINING / "checkpoints")
    return any(any(f.glob("checkpoint-*")) for f in folders) or (run_dir / PRETRAINING / "encoder").is_dir()


def last_complete_checkpoint(checkpoints: Path) -> str | None:
    """The newest checkpoint with its trainer state and weights written; a half-written one is skipped."""
    if not checkpoints.is_dir():
        return None
    candidates = sorted(
        (p for p in checkpoints.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()),
        key=lambda p: int(p.name.split("-")[-1]),
        reverse=True,
    )
    for ckpt in candidates:
        has_weights = any(
            (ckpt / f).is_file()
            for f in ("model.safetensors", "adapter_model.safetensors", "pytorch_model.bin")
        )
        if (ckpt / "trainer_state.json").is_file() and has_weights and (ckpt / "optimizer.pt").is_file():
            return str(ckpt)
        logger.warning("Skipping incomplete checkpoint %s", ckpt)
    return None


def is_baseline_folder(model_dir: Path) -> bool:
    """A model folder holding a scikit-learn baseline (`fieldtune baseline`), not a transformers model."""
    return (Path(model_dir) / BASELINE_FILE).is_file()


def fold_ensemble_dirs(ref: Path) -> list[Path]:
    """A finished cross-validation whose final model is its folds (`cv.final: ensemble`, no `model/`): its
    fold run directories, fold-0 first; [] for anything else."""
    ref = Path(ref)
    if not (ref / CV_RESULTS).is_file() or (ref / "model").is_dir():
        return []
    folds = [p for p in ref.glob(f"{FOLD_PREFIX}*") if p.name.removeprefix(FOLD_PREFIX).isdigit()]
    return sorted(folds, key=lambda p: int(p.name.removeprefix(FOLD_PREFIX)))


def model_dir_of(ref: Path) -> Path:
    """A run directory -> its `model/`; a model folder -> itself."""
    if (ref / "model").is_dir():
        return ref / "model"
    if any((ref / name).is_file() for name in ("config.json", "adapter_config.json", BASELINE_FILE)):
        return ref
    if is_run_dir(ref) and not (ref / CV_RESULTS).is_file():
        raise RunDirError(f"{ref} is a run directory without a saved model (no model/); re-train the run.")
    raise RunDirError(
        f"{ref} is neither a fieldtune run directory nor a saved model folder (no model/ or config.json)."
    )
