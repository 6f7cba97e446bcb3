"""Fine-tune a model from a YAML recipe: fieldtune train CONFIG.yaml [--section.key=value ...]"""

from __future__ import annotations

import argparse
from pathlib import Path

from fieldtune.commands.report import print_metrics
from fieldtune.config import RunConfig, load_config
from fieldtune.errors import FieldtuneError, HubError


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
    p.add_argument(
        "--accelerate-config",
        metavar="FILE",
        help="Launch through `accelerate launch --config_file FILE` (see configs/accelerate/, docs/SCALING.md).",
    )
    p.set_defaults(accepts_overrides=True)


def preflight(config: RunConfig, args: argparse.Namespace) -> None:
    """What can be checked without data or weights, so that a wrong run directory, a missing Hub token or a
    model that cannot do the task costs the user a second, not a dataset load and a training run."""
    from fieldtune.config.packages import check_training_packages
    from fieldtune.modeling.create import check_max_length, load_model_config, require_processor_files
    from fieldtune.rundir.layout import check_run_dir_free
    from fieldtune.tasks import get_task

    if args.num_processes is not None and args.num_processes < 1:
        raise FieldtuneError(f"--num-processes {args.num_processes}: give 1 or more processes.")
    # The same rule as `fieldtune.run.resolve_run_dir` (not imported: it would load torch first).
    run_dir = (
        Path(args.output_dir)
        if args.output_dir is not None
        else Path(config.output_dir) / (config.name or "run")
    )
    check_run_dir_free(run_dir, args.overwrite, args.resume)
    check_training_packages(config.training)
    if config.hub.push:
        from fieldtune.hub import get_token

        if not get_token():
            raise HubError(
                "`hub.push` is true but no Hugging Face token was found: set HF_TOKEN or run `hf auth login` "
                "(with write access) before training, or pass --hub.push=false."
            )
    task = get_task(config.task)
    model_config = load_model_config(config.model.name_or_path, config.model.revision, task=task)
    require_processor_files(config.model.name_or_path, task)
    if task.modality == "text":
        check_max_length(model_config, config.model.max_length, config.model.name_or_path)


def main(args: argparse.Namespace) -> int:
    config = load_config(args.config, args.overrides)  # validates before anything heavy
    preflight(config, args)
    if args.accelerate_config or (args.num_processes and args.num_processes > 1):
        from fieldtune.launch import launch_train

        return launch_train(args)
    from fieldtune.run import run

    result = run(config, output_dir=args.output_dir, overwrite=args.overwrite, resume=args.resume)
    if result.results:
        print_metrics(result.results, title=f"{config.name}: test split")
        print(f"Run directory: {result.run_dir}")
    return 0
