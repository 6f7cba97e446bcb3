"""Export a run's model: fieldtune export RUN --merge --out DIR (LoRA merged into a plain transformers model)"""

from __future__ import annotations

import argparse
from pathlib import Path

from fieldtune.errors import FieldtuneError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="Run directory or model folder.")
    p.add_argument("--merge", action="store_true", help="Merge the LoRA adapter into the base weights.")
    p.add_argument("--out", required=True, help="Folder to write (must not exist).")


def main(args: argparse.Namespace) -> int:
    from fieldtune.artifacts import check_output_path, model_dir_of
    from fieldtune.saving import merge_adapter

    out = Path(args.out)
    check_output_path(out, "--out", "folder")
    if out.exists() and any(out.iterdir()):
        raise FieldtuneError(f"--out {out} already exists and is not empty; choose a new folder.")
    if not args.merge:
        raise FieldtuneError(
            "export needs --merge (a full run's model/ folder is already a plain transformers model)."
        )
    run = Path(args.run)
    if not run.exists():
        raise FieldtuneError(f"{run} does not exist; pass a run directory or a model folder.")
    merge_adapter(model_dir_of(run), out)
    print(f"Merged model written to {out}")
    return 0
