"""Download a model from the Hub: fieldtune pull NS/NAME [--revision R] [--out DIR]"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("repo_id", help="Hub model id, namespace/name.")
    p.add_argument("--revision", help="Branch, tag or commit.")
    p.add_argument(
        "--out",
        help="Folder to download into (default: the Hub cache). A non-empty folder must be an unchanged "
        "earlier pull of the same repo, else pass --overwrite.",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="Replace a non-empty --out folder, whatever it holds (the folder is replaced, never merged into).",
    )


def main(args: argparse.Namespace) -> int:
    from fieldtune.hub.repos import check_repo_id, pull

    check_repo_id(args.repo_id, "repo id")
    if args.out:
        from fieldtune.rundir.layout import check_output_path

        check_output_path(Path(args.out), "--out", "folder")
    if args.overwrite and not args.out:
        from fieldtune.errors import FieldtuneError

        raise FieldtuneError("--overwrite applies to --out DIR only; the Hub cache is never overwritten.")
    out = Path(args.out) if args.out else None
    folder = pull(args.repo_id, revision=args.revision, out=out, overwrite=args.overwrite)
    print(folder)
    return 0
