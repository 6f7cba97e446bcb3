"""Publishing a finished run to the Hub: adapter + head, full weights, or merged weights, with results and card."""

from __future__ import annotations

import tempfile
from pathlib import Path

from fieldtune.config import RunConfig
from fieldtune.hub.cv_files import cv_repo_files
from fieldtune.hub.repos import check_repo_id, push_run
from fieldtune.inference.export import merge_adapter
from fieldtune.rundir.layout import fold_ensemble_dirs
from fieldtune.rundir.reader import RunDirectory


def publish(
    run_dir: Path,
    repo_id: str,
    private: bool = False,
    merge: bool = False,
    revision: str | None = None,
    include_predictions: bool = False,
) -> str:
    """Push the run (adapter + head, full weights, or merged weights) with its results, plots and card."""
    check_repo_id(repo_id, "--repo-id")
    RunDirectory(run_dir).read_results()  # a finished run only, its results readable
    folds = fold_ensemble_dirs(run_dir)
    if folds:  # a cross-validation whose model is its folds: each fold's folder, beside the CV's results
        return _publish_folds(run_dir, folds, repo_id, private, merge, revision, include_predictions)
    if not merge:
        return push_run(
            run_dir, repo_id, private=private, revision=revision, include_predictions=include_predictions
        )
    with tempfile.TemporaryDirectory(prefix="fieldtune-merge-") as tmp:
        merged = merge_adapter(run_dir / "model", Path(tmp) / "model")
        return push_run(
            run_dir,
            repo_id,
            private=private,
            revision=revision,
            model_dir=merged,
            include_predictions=include_predictions,
        )


def _publish_folds(
    cv_dir: Path,
    folds: list[Path],
    repo_id: str,
    private: bool,
    merge: bool,
    revision: str | None,
    include_predictions: bool,
) -> str:
    for fold in folds:  # a fold the CV never finished has no model to push
        RunDirectory(fold).require_finished()
    with tempfile.TemporaryDirectory(prefix="fieldtune-merge-") as tmp:
        models = [merge_adapter(f / "model", Path(tmp) / f.name) if merge else f / "model" for f in folds]
        files = cv_repo_files(cv_dir, folds, models, include_predictions)
        message = f"Upload fieldtune cross-validation {cv_dir.resolve().name} ({len(folds)} fold models)"
        return push_run(
            cv_dir, repo_id, private=private, revision=revision, commit_message=message, files=files
        )


def publish_finished_run(run_dir: Path, config: RunConfig) -> None:
    """`hub.push: true`: push the run `train` / `baseline` has just finished, as the recipe's `hub:` says."""
    from fieldtune.errors import FieldtuneError, HubError

    try:
        publish(
            run_dir,
            config.hub.repo_id,
            private=config.hub.private,
            merge=config.hub.merge,
            revision=config.hub.revision,
            include_predictions=config.hub.include_predictions,
        )
    except FieldtuneError as e:
        raise HubError(
            f"The run is saved in {run_dir}, but the push failed: {e} "
            f"Retry with `fieldtune push {run_dir} --repo-id {config.hub.repo_id}`."
        ) from None
