"""Push a run to the Hub: fieldtune push RUN --repo-id NS/NAME [--private] [--merge]"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="Run directory.")
    p.add_argument("--repo-id", required=True, help="Target model repo, namespace/name.")
    p.add_argument("--private", action="store_true", help="Create the repo as private.")
    p.add_argument("--merge", action="store_true", help="Push merged weights instead of the LoRA adapter.")
    p.add_argument("--revision", help="Branch to push to (default: main).")
    p.add_argument(
        "--include-predictions",
        action="store_true",
        help="Also push predictions.csv (the test split's raw inputs and labels: keep in-house data in house).",
    )


def main(args: argparse.Namespace) -> int:
    from fieldtune.training.publish import publish

    url = publish(
        Path(args.run),
        args.repo_id,
        private=args.private,
        merge=args.merge,
        revision=args.revision,
        include_predictions=args.include_predictions,
    )
    from fieldtune.redact import redact

    print(f"Pushed {args.run} to {redact(url)}")  # the URL holds HF_ENDPOINT, which may carry credentials
    return 0
