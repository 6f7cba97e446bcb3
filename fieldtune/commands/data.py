"""Write a built-in synthetic dataset to disk: fieldtune data NAME --out PATH [--num-samples N] [--seed S]"""

from __future__ import annotations

import argparse
from pathlib import Path

from fieldtune.errors import FieldtuneError

GENERATORS = ("logistics_demand", "geology_images", "cargo_images")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", choices=GENERATORS, help="Which synthetic dataset.")
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
    check_output_path(out, "--out", "file" if args.name == "logistics_demand" else "folder")
    if args.tags and args.name != "logistics_demand":
        raise FieldtuneError(f"--tags: only logistics_demand has tags; drop --tags for {args.name}.")
    if args.name == "logistics_demand":
        from fieldtune.datasets_builders.logistics_demand import write_logistics_demand

        write_logistics_demand(out, args.num_samples, args.seed, args.tags, args.language)
    elif args.name == "geology_images":
        from fieldtune.datasets_builders.geology_images import generate_geology_images

        generate_geology_images(out, args.num_samples, args.seed)
    else:
        from fieldtune.datasets_builders.cargo_images import generate_cargo_images

        generate_cargo_images(out, args.num_samples, args.seed)
    print(f"Wrote {args.name} ({args.num_samples} examples, seed {args.seed}) to {out}")
    return 0
