"""Fine-tune a model from a YAML recipe: fieldtune train CONFIG.yaml [--section.key=value ...]"""

from __future__ import annotations

import argparse

from fieldtune.commands.report import print_metrics
from fieldtune.config import RunConfig, load_config
from fieldtune.errors import FieldtuneError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="YAML recipe (see configs/).")
    p.add_argument("--output-dir", help="Make DIR the run directory itself (default: output_dir/name).")
    p.add_argument(
        "--resume", action="store_true", help="Continue the run from its last complete checkpoint."
    )
    p.add_argument("--overwrite", action="store_true", help="Replace an existing run directory.")
    p.add_argument(
        "--cv",
        type=int,
        metavar="K",
        help="k-fold cross-validation (sets cv.folds): K fold runs under the run directory, their mean ± sd.",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="With --cv: train N folds at once, each in its own local process (as `sweep --workers`).",
    )
    p.add_argument(
        "--num-processes", type=int, default=None, help="Launch N processes through `accelerate launch`."
    )
    machines = p.add_argument_group(
        "several machines", "Run the same command on every machine (shared filesystem; docs/SCALING.md)."
    )
    machines.add_argument("--num-machines", type=int, default=None, help="Machines taking part (2 or more).")
    machines.add_argument("--machine-rank", type=int, default=None, help="This machine's rank: 0 .. N-1.")
    machines.add_argument("--main-process-ip", help="Address of machine 0, reachable from every machine.")
    machines.add_argument(
        "--main-process-port", type=int, default=None, help="Free port on machine 0 (default 29500)."
    )
    p.add_argument(
        "--accelerate-config",
        metavar="FILE",
        help="Launch through `accelerate launch --config_file FILE` (see configs/accelerate/, docs/SCALING.md).",
    )
    p.set_defaults(accepts_overrides=True)


def main(args: argparse.Namespace) -> int:
    from fieldtune.training.launch import machine_flags
    from fieldtune.training.preflight import preflight, resolve_run_dir

    overrides = list(args.overrides) + ([f"--cv.folds={args.cv}"] if args.cv is not None else [])
    config = load_config(args.config, overrides)  # validates before anything heavy
    if args.num_processes is not None and args.num_processes < 1:
        raise FieldtuneError(f"--num-processes {args.num_processes}: give 1 or more processes.")
    machines = machine_flags(args)  # `--num-machines 0`, `--machine-rank 3` alone: errors, never ignored
    if args.workers != 1 and (config.cv.folds is None or config.cv.fold is not None):
        raise FieldtuneError(
            f"--workers {args.workers} trains the folds of a cross-validation at once; add --cv K, or drop "
            "--workers (one run: --num-processes N for data-parallel training)."
        )
    preflight(config, resolve_run_dir(config, args.output_dir), args.overwrite, args.resume)
    launched = args.accelerate_config or machines or (args.num_processes and args.num_processes > 1)
    if config.cv.folds is not None and config.cv.fold is None:
        if launched:
            raise FieldtuneError(
                "Cross-validation (cv.folds / --cv) runs its folds in this process; drop --num-processes / "
                "--accelerate-config / --num-machines, or train one fold with --cv.fold=I."
            )
        return _cross_validate(config, args)
    if launched:
        from fieldtune.training.launch import launch_train

        return launch_train(args)
    from fieldtune.training.run import run

    result = run(
        config, output_dir=args.output_dir, overwrite=args.overwrite, resume=args.resume, checked=True
    )
    if result.results:
        print_metrics(result.results, title=f"{config.name}: test split")
        print(f"Run directory: {result.run_dir}")
        from fieldtune.baselines.guard import baseline_line

        if line := baseline_line(result.results):  # the run is clearly below its own baseline
            print(line)
    return 0


def _cross_validate(config: RunConfig, args: argparse.Namespace) -> int:
    from fieldtune.cv import run_cv

    result = run_cv(
        config,
        output_dir=args.output_dir,
        overwrite=args.overwrite,
        resume=args.resume,
        checked=True,
        workers=args.workers,
    )
    summary = result.summary
    metric = summary["primary_metric"]
    stats = summary["metrics"].get(metric)
    if stats:
        low, high = stats["ci95"]
        print(
            f"{config.name}: {summary['folds']}-fold CV {metric} {stats['mean']:.4f} ± {stats['sd']:.4f} (sd), "
            f"95% interval [{low:.4f}, {high:.4f}]"
        )
    print_metrics(result.results, title=f"{config.name}: test split, final model ({config.cv.final})")
    print(f"CV directory: {result.cv_dir}")
    return 0
