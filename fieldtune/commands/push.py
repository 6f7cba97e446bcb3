"""Push a run to the Hub: fieldtune push RUN --repo-id NS/NAME [--private] [--merge]"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="Run directory.")
    p.add_argument("--repo-id", required=True, help="Target model repo, namespace/name.")
    p.add_argument("--private", action="store_true", help="Create the repo as private.")
    p.add_argument("--merge", action="store_true", help="Push merged weights instead of the LoRA adapter.")
    p.add_argument("--revision", help="Branch to push to (default: main).")


def publish(
    run_dir: Path, repo_id: str, private: bool = False, merge: bool = False, revision: str | None = None
) -> str:
    """Push the run (adapter + head, full weights, or merged weights) with its results, plots and card."""
    from fieldtune.artifacts import read_eval_results
    from fieldtune.hub import check_repo_id, push_run

    check_repo_id(repo_id, "--repo-id")
    read_eval_results(run_dir)  # a finished run only
    if not merge:
        return push_run(run_dir, repo_id, private=private, revision=revision)
    from fieldtune.saving import merge_adapter

    with tempfile.TemporaryDirectory(prefix="fieldtune-merge-") as tmp:
        merged = merge_adapter(run_dir / "model", Path(tmp) / "model")
        return push_run(run_dir, repo_id, private=private, revision=revision, model_dir=merged)


def main(args: argparse.Namespace) -> int:
    url = publish(
        Path(args.run), args.repo_id, private=args.private, merge=args.merge, revision=args.revision
    )
    print(f"Pushed {args.run} to {url}")
    return 0
