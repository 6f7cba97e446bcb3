"""Fit the task's classical baseline on the recipe's split: fieldtune baseline CONFIG.yaml [--section.key=value ...]

Text: word + char TF-IDF with a linear model (scikit-learn, seconds); images: a linear probe on the recipe's
frozen backbone. The run directory has the same contract as `fieldtune train`'s (evaluate, predict,
leaderboard and push read it), and the leaderboard marks it as a baseline.
"""

from __future__ import annotations

import argparse

from fieldtune.commands.report import print_metrics
from fieldtune.config import load_config


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="YAML recipe (see configs/); its data section gives the split.")
    p.add_argument(
        "--output-dir", help="Make DIR the run directory itself (default: output_dir/<name>-baseline)."
    )
    p.add_argument("--overwrite", action="store_true", help="Replace an existing run directory.")
    p.set_defaults(accepts_overrides=True)


def main(args: argparse.Namespace) -> int:
    import dataclasses

    from fieldtune.training.preflight import preflight, resolve_run_dir

    config = load_config(args.config, args.overrides)  # validates before anything heavy
    if args.output_dir is None:  # next to the recipe's fine-tuned run, never on top of it
        config = dataclasses.replace(config, name=f"{config.name or 'run'}-baseline")
    # before torch; the image baseline (a probe run) checks its backbone in run()
    preflight(config, resolve_run_dir(config, args.output_dir), args.overwrite, model=False)
    from fieldtune.training.run import run_baseline

    result = run_baseline(config, output_dir=args.output_dir, overwrite=args.overwrite)
    print_metrics(result.results, title=f"{config.name} (baseline: {result.results['baseline']['model']})")
    print(f"Run directory: {result.run_dir}")
    return 0
