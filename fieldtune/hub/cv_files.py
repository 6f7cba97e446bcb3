"""What `fieldtune push CV_DIR` uploads for a cross-validation whose final model is its folds (`cv.final:
ensemble`): each fold's model folder as `fold-<i>/` (plain transformers loads it with `subfolder=`), that
fold's eval_results.json beside it, and at the root the CV directory's test results (the ensemble's),
cv_results.json, plots, recipe and card. Out-of-fold predictions hold the training rows' raw inputs, so
they go up only with `--include-predictions`, as the test predictions do."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fieldtune.errors import HubError
from fieldtune.hub.repos import PREDICTIONS, RUN_FILES, files_under
from fieldtune.rundir.layout import CV_RESULTS, OOF_FILE


def cv_repo_files(
    cv_dir: Path, folds: Sequence[Path], model_dirs: Sequence[Path], include_predictions: bool = False
) -> dict[str, Path]:
    """{path in repo: local file} for a fold ensemble; `model_dirs[i]` is fold i's model (or merged) folder."""
    files: dict[str, Path] = {}
    for fold, model_dir in zip(folds, model_dirs, strict=True):
        if not model_dir.is_dir() or not any(model_dir.iterdir()):
            raise HubError(
                f"{model_dir} is missing or empty, so fold {fold.name} of {cv_dir} has no model to push: "
                f"resume the cross-validation (`fieldtune train RECIPE --cv K --resume --output-dir {cv_dir}`)."
            )
        files.update(files_under(model_dir, f"{fold.name}/"))
        if (fold / "eval_results.json").is_file():  # the fold's own validation scores
            files[f"{fold.name}/eval_results.json"] = fold / "eval_results.json"
    if (cv_dir / "plots").is_dir():
        files.update(files_under(cv_dir / "plots", "plots/"))
    root = [(CV_RESULTS, CV_RESULTS), *RUN_FILES]
    if include_predictions:
        root += [(PREDICTIONS, PREDICTIONS), (OOF_FILE, OOF_FILE)]
    files.update({in_repo: cv_dir / name for name, in_repo in root if (cv_dir / name).is_file()})
    return files
