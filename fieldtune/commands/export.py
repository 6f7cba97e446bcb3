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
    from fieldtune.inference.export import merge_adapter
    from fieldtune.rundir.layout import model_dir_of

    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        raise FieldtuneError(f"--out {out} already exists and is not empty; choose a new folder.")
    if not args.merge:
        raise FieldtuneError(
            "export needs --merge (a full run's model/ folder is already a plain transformers model)."
        )
    merge_adapter(model_dir_of(Path(args.run)), out)
    print(f"Merged model written to {out}")
    return 0
