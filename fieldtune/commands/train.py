"""Fine-tune a model from a YAML recipe: fieldtune train CONFIG.yaml [--section.key=value ...]"""

from __future__ import annotations

import argparse

from fieldtune.config import load_config
from fieldtune.report import print_metrics


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="YAML recipe (see configs/).")
    p.add_argument("--output-dir", help="Make DIR the run directory itself (default: output_dir/name).")
    p.add_argument(
        "--resume", action="store_true", help="Continue the run from its last complete checkpoint."
    )
    p.add_argument("--overwrite", action="store_true", help="Replace an existing run directory.")
    p.add_argument(
        "--num-processes", type=int, default=None, help="Launch N processes through `accelerate launch`."
    )
    p.set_defaults(accepts_overrides=True)


def main(args: argparse.Namespace) -> int:
    config = load_config(args.config, args.overrides)  # validates before anything heavy
    if args.num_processes and args.num_processes > 1:
        from fieldtune.launch import launch_train

        return launch_train(args)
    from fieldtune.run import run

    result = run(config, output_dir=args.output_dir, overwrite=args.overwrite, resume=args.resume)
    if result.results:
        print_metrics(result.results, title=f"{config.name}: test split")
        print(f"Run directory: {result.run_dir}")
    return 0
