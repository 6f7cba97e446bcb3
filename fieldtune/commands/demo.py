"""Run the demo recipes on the embedded synthetic data and rank them: fieldtune demo [--output-dir DIR]"""

from __future__ import annotations

import argparse
from pathlib import Path

from fieldtune.errors import FieldtuneError

REPO = Path(__file__).resolve().parents[2]
DEMO_DIR = REPO / "configs" / "demo"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--output-dir", default="runs/demo", help="Folder for the demo runs (default: runs/demo).")
    p.add_argument("--overwrite", action="store_true", help="Replace earlier demo runs.")
    p.add_argument("--only", help="Run only the recipe with this name (file stem).")
    p.set_defaults(accepts_overrides=True)


def main(args: argparse.Namespace) -> int:
    from fieldtune.commands.report import print_metrics
    from fieldtune.config import load_config
    from fieldtune.leaderboard import build_leaderboard
    from fieldtune.training.run import run

    recipes = every = sorted(DEMO_DIR.glob("*.yaml"))
    if not recipes:
        raise FieldtuneError(
            f"No demo recipes found in {DEMO_DIR}; run the demo from a clone of the fieldtune repository."
        )
    if args.only:
        names = [r.stem for r in recipes]
        recipes = [r for r in recipes if r.stem == args.only]
        if not recipes:
            raise FieldtuneError(
                f"--only {args.only}: no such demo recipe; choose one of {', '.join(names)}."
            )
    out = Path(args.output_dir)
    _check_output_free(out, recipes, args.overwrite)
    configs = [load_config(recipe, args.overrides) for recipe in recipes]  # a bad override: before training
    for recipe, config in zip(recipes, configs, strict=True):
        print(f"== {recipe.stem}: {config.task}, {config.model.name_or_path}, {config.method.name}")
        result = run(config, output_dir=out / recipe.stem, overwrite=args.overwrite)
        print_metrics(result.results, title=f"{recipe.stem}: test split")
    _, text = build_leaderboard(_finished_runs(out, every), [], out / "leaderboard")
    print(text)
    print(f"Runs and leaderboard ({out / 'leaderboard' / 'leaderboard.html'}) written under {out}")
    return 0


def _finished_runs(out: Path, recipes: list[Path]) -> list[Path]:
    """Every demo run finished under `out`, those of earlier `--only` calls included: re-running one part
    of the demo keeps the other parts on its leaderboard."""
    from fieldtune.rundir.reader import RunDirectory

    found = (RunDirectory.at(out / recipe.stem) for recipe in recipes)
    return [run.path for run in found if run is not None and run.finished]


def _check_output_free(out: Path, recipes: list[Path], overwrite: bool) -> None:
    """Before the first recipe trains: every run folder and leaderboard file this demo would write is new, or
    --overwrite was given (a second demo into the same folder never silently replaces earlier results)."""
    from fieldtune.leaderboard.render import BOARD_FILES
    from fieldtune.rundir.layout import check_new_file, check_output_path, check_run_dir_free

    check_output_path(out, "--output-dir", "folder")
    for recipe in recipes:
        check_run_dir_free(out / recipe.stem, overwrite, resume=False)
    for name in BOARD_FILES:
        check_new_file(out / "leaderboard" / name, "--output-dir", overwrite)
