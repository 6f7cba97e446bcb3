"""A 4-trial `fieldtune sweep` vs 4 independent runs of the same 4 settings: what sharing the preparation saves.

Both sides run the same four configs in this process (no interpreter or import start-up counted on either):
(a) independent: `fieldtune.training.run.run` four times, each with its own empty cache (`FIELDTUNE_CACHE`), as four
    machines or four users without a shared cache would: each decodes the images and extracts the frozen
    backbone's features again;
(b) sweep: `prepare_sweep` + `run_sweep` over the same grid with one empty cache: the first trial decodes
    and extracts, the three others read pixels and features back (same data, image spec and backbone).

Default: the lithology thin sections (../shared/data/lithology/train, 1,525 images, 224 px) with a
feature-cached linear probe on ViT-Tiny (../shared/models/vit-tiny-patch16-224), grid
training.learning_rate=1e-3,3e-3 x training.weight_decay=0,0.05. Prints each side's wall time, the ratio and
that every trial scored the same on both sides (the caches change time, not results).

    python benchmarks/bench_sweep.py --json benchmarks/out/sweep.json
    python benchmarks/bench_sweep.py --per-class 120 --json benchmarks/out/sweep_360.json   # 360 images
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import ROOT, Timer, emit_json, machine_info, print_ratio, print_table, quiet_libraries  # noqa: E402

RECIPE = "configs/geology/lithology_probe_unfreeze.yaml"
OVERRIDES = [
    "--method.name=probe",
    "--model.name_or_path=../shared/models/vit-tiny-patch16-224",
    "--training.num_train_epochs=2",
]
GRID = ["training.learning_rate=0.001,0.003", "training.weight_decay=0.0,0.05"]


def _fresh_cache(root: Path, name: str) -> None:
    folder = root / name
    folder.mkdir()
    os.environ["FIELDTUNE_CACHE"] = str(folder)


def _subset(recipe: str, overrides: list[str], out: Path, per_class: int) -> Path:
    from fieldtune.config import load_config

    source = Path(load_config(recipe, overrides).data.path)
    for folder in sorted(p for p in source.iterdir() if p.is_dir()):
        (out / folder.name).mkdir(parents=True)
        for image in sorted(folder.iterdir())[:per_class]:
            shutil.copy2(image, out / folder.name / image.name)
    return out


def independent(recipe: str, overrides: list[str], work: Path) -> tuple[float, dict[str, float]]:
    from fieldtune.sweep.space import grid_points, load_recipe, parse_grid, point_names
    from fieldtune.training.run import run

    base = load_recipe(recipe, overrides)
    points = grid_points(parse_grid(GRID, base))
    scores = {}
    with Timer() as t:
        for point, name in zip(points, point_names(points), strict=True):
            _fresh_cache(work, f"cache-{name}")
            result = run(base.config(point, name=name), output_dir=work / "runs" / name)
            scores[name] = result.results["metrics"]["accuracy"]
    return t.seconds, scores


def swept(recipe: str, overrides: list[str], work: Path) -> tuple[float, dict[str, float]]:
    import json

    from fieldtune.sweep import prepare_sweep, run_sweep

    _fresh_cache(work, "cache-sweep")
    with Timer() as t:
        plan, manifest = prepare_sweep(recipe, overrides, grid=GRID, output_dir=work / "sweep", quiet=True)
        run_sweep(plan, manifest)
    scores = {
        name: json.loads((work / "sweep" / name / "eval_results.json").read_text())["metrics"]["accuracy"]
        for name in plan.names
    }
    return t.seconds, scores


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--recipe", default=RECIPE)
    parser.add_argument("--json", help="Write the result as JSON to this file.")
    parser.add_argument(
        "--per-class",
        type=int,
        help="Copy the first N images of each class folder of data.path into a temporary folder and use that.",
    )
    args, extra = parser.parse_known_args()
    os.chdir(ROOT)
    quiet_libraries()
    work = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    overrides = OVERRIDES + extra
    if args.per_class:
        overrides.append(f"--data.path={_subset(args.recipe, overrides, work / 'data', args.per_class)}")
    old_cache = os.environ.get("FIELDTUNE_CACHE")
    try:
        t_ind, s_ind = independent(args.recipe, overrides, work)
        t_sweep, s_sweep = swept(args.recipe, overrides, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if old_cache is None:
            os.environ.pop("FIELDTUNE_CACHE", None)
        else:
            os.environ["FIELDTUNE_CACHE"] = old_cache
    print_table(
        "test accuracy per trial",
        ["4 independent runs", "1 sweep"],
        [(name, [s_ind[name], s_sweep[name]]) for name in s_ind],
    )
    print_table("wall time (s)", ["4 independent runs", "1 sweep"], [("total", [t_ind, t_sweep])])
    print_ratio("4 independent runs / sweep", t_ind / t_sweep, "wall time; > 1: the sweep is faster")
    same = all(abs(s_ind[n] - s_sweep[n]) < 1e-9 for n in s_ind)
    print(f"same test accuracy per trial on both sides: {same}")
    emit_json(
        {
            "bench": "sweep",
            "recipe": args.recipe,
            "overrides": overrides,
            "grid": GRID,
            "independent_s": t_ind,
            "sweep_s": t_sweep,
            "speedup": t_ind / t_sweep,
            "same_scores": same,
            "machine": machine_info(),
        },
        args.json,
    )


if __name__ == "__main__":
    main()
