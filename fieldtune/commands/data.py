"""Write a built-in synthetic dataset to disk: fieldtune data NAME --out PATH [--num-samples N] [--seed S]"""

from __future__ import annotations

import argparse
from pathlib import Path

from fieldtune.errors import FieldtuneError

# name -> (module in fieldtune.datasets_builders, its writer(out, n, seed), what --out is)
GENERATORS = {
    "logistics_demand": ("logistics_demand", "write_logistics_demand", "file"),
    "geology_images": ("geology_images", "generate_geology_images", "folder"),
    "cargo_images": ("cargo_images", "generate_cargo_images", "folder"),
    "cargo_tags": ("cargo_tags", "generate_cargo_tags", "folder"),  # PNGs + metadata.jsonl (label sets)
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", choices=list(GENERATORS), help="Which synthetic dataset.")
    p.add_argument("--out", required=True, help="CSV file (text) or folder (images) to write.")
    p.add_argument("--num-samples", type=int, default=600)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--tags", action="store_true", help="logistics_demand: add handling instructions and a `tags` column."
    )
    p.add_argument(
        "--language", choices=("en", "zh"), default="en", help="logistics_demand: English or Chinese notes."
    )


def main(args: argparse.Namespace) -> int:
    from fieldtune.rundir.layout import check_output_path

    if args.num_samples < 1:
        raise FieldtuneError(f"--num-samples {args.num_samples}: give 1 or more examples.")
    if not 0 <= args.seed < 2**32:
        raise FieldtuneError(f"--seed {args.seed}: give a whole number from 0 to 2**32 - 1.")
    out = Path(args.out)
    if out.exists():
        raise FieldtuneError(f"--out {out} already exists; choose a new path.")
    if args.language != "en" and args.name != "logistics_demand":
        raise FieldtuneError(
            f"--language {args.language}: only logistics_demand has notes in other languages."
        )
    module, writer, kind = GENERATORS[args.name]
    check_output_path(out, "--out", kind)
    if kind == "file" and out.suffix.lower() != ".csv":  # CSV under another name: `train` would misread it
        raise FieldtuneError(f"--out {out}: {args.name} is written as CSV; give a path ending in .csv.")
    if args.tags and args.name != "logistics_demand":
        raise FieldtuneError(f"--tags: only logistics_demand has tags; drop --tags for {args.name}.")
    import importlib

    options = {"tags": True} if args.tags else {}
    if args.language != "en":
        options["language"] = args.language
    getattr(importlib.import_module(f"fieldtune.datasets_builders.{module}"), writer)(
        out, args.num_samples, args.seed, **options
    )
    print(f"Wrote {args.name} ({args.num_samples} examples, seed {args.seed}) to {out}")
    return 0
