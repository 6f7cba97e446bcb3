"""Sweep a recipe over a grid or an Optuna search: fieldtune sweep CONFIG.yaml --grid KEY=V1,V2 ... | --search SPACE.yaml --trials N"""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="YAML recipe every trial starts from (see configs/).")
    p.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="KEY=V1,V2",
        help="A config key and its values (repeatable): every combination is one trial.",
    )
    p.add_argument(
        "--search", metavar="SPACE.yaml", help="Search space for Optuna's TPE sampler (see the README)."
    )
    p.add_argument("--trials", type=int, help="With --search: how many trials the study runs in all.")
    p.add_argument(
        "--output-dir", help="Sweep directory (default: output_dir/NAME-sweep); one run directory per trial."
    )
    p.add_argument(
        "--storage",
        metavar="URL",
        help="Optuna storage shared by workers: sqlite:///sweep.db, a database URL (several machines) or "
        "FILE.journal (default: a journal file in the sweep directory).",
    )
    p.add_argument("--workers", type=int, default=1, help="Local worker processes sharing the study.")
    p.add_argument(
        "--prune-after",
        type=int,
        default=3,
        metavar="N",
        help="With --search: median pruning on the validation metric once N trials finished (0: off).",
    )
    p.add_argument(
        "--cv",
        type=int,
        metavar="K",
        help="Cross-validate every trial (cv.folds: K) and choose by the CV mean of the primary metric.",
    )
    p.set_defaults(accepts_overrides=True)


def main(args: argparse.Namespace) -> int:
    from fieldtune.sweep import prepare_sweep, run_sweep

    plan, manifest = prepare_sweep(
        args.config,
        list(args.overrides) + ([f"--cv.folds={args.cv}"] if args.cv is not None else []),
        grid=args.grid,
        search=args.search,
        trials=args.trials,
        output_dir=args.output_dir,
        storage=args.storage,
        prune_after=args.prune_after,
        quiet=getattr(args, "quiet", False),
    )
    _, text = run_sweep(plan, manifest, workers=args.workers)
    print(text)
    return 0
