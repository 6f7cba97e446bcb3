"""5-fold cross-validation (`fieldtune train --cv 5`) vs the recipe's single split, on the same recipe.

Both sides run in this process, each with its own empty cache (`FIELDTUNE_CACHE`):
(a) single split: `fieldtune.run.run` once: its validation figure (what a sweep would choose on) and test;
(b) CV: `fieldtune.cv.run_cv` with `cv.folds: K` over the same train + validation rows (test untouched):
    the CV mean ± sd (95% t-interval) of the held-out-fold scores, and the fold ensemble's test score.
Prints both, and the wall time of the K folds against K x the single run (K cold runs of one split each;
the single run is timed once and multiplied). Caches are keyed by each split's content, so a fold re-decodes
and re-extracts its own rows; only the test split, the same in every fold, is prepared once.

Default: the lithology thin sections (../shared/data/lithology/train, 1,525 images) with the feature-cached
linear probe on MobileNetV2 (the RESULTS.md "linear probe" row: 30 epochs, lr 3e-3).

    nice -n 10 python benchmarks/bench_cv.py --folds 5 --json benchmarks/out/cv_lithology_probe.json
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import ROOT, Timer, emit_json, machine_info, print_table, quiet_libraries  # noqa: E402

RECIPE = "configs/geology/lithology_probe_unfreeze.yaml"
OVERRIDES = ["--method.name=probe", "--training.num_train_epochs=30", "--training.learning_rate=3e-3"]


def _fresh_cache(root: Path, name: str) -> None:
    folder = root / name
    folder.mkdir()
    os.environ["FIELDTUNE_CACHE"] = str(folder)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--recipe", default=RECIPE)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--json", help="Write the result as JSON to this file.")
    args, extra = parser.parse_known_args()
    os.chdir(ROOT)
    quiet_libraries()
    from fieldtune.config import load_config
    from fieldtune.cv import run_cv
    from fieldtune.run import run

    config = load_config(args.recipe, OVERRIDES + extra)
    metric = "accuracy"
    work = Path(tempfile.mkdtemp(prefix="bench-cv-"))
    old_cache = os.environ.get("FIELDTUNE_CACHE")
    try:
        _fresh_cache(work, "cache-single")
        with Timer() as t_single:
            single = run(config, output_dir=work / "single").results
        _fresh_cache(work, "cache-cv")
        cv_config = dataclasses.replace(config, cv=dataclasses.replace(config.cv, folds=args.folds))
        with Timer() as t_cv:
            cv = run_cv(cv_config, output_dir=work / "cv")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if old_cache is None:
            os.environ.pop("FIELDTUNE_CACHE", None)
        else:
            os.environ["FIELDTUNE_CACHE"] = old_cache
    stats = cv.summary["metrics"][metric]
    low, high = stats["ci95"]
    val = (single.get("validation_metrics") or {}).get(metric)
    print_table(
        f"{metric}",
        ["validation (model choice)", "test"],
        [
            ("single split", [val, single["metrics"][metric]]),
            (f"{args.folds}-fold CV (ensemble on test)", [f"{stats['mean']:.4f} ± {stats['sd']:.4f}", cv.results["metrics"][metric]]),
        ],
    )  # fmt: skip
    print(
        f"CV 95% interval [{low:.4f}, {high:.4f}]; per fold {', '.join(f'{v:.4f}' for v in stats['folds'])}"
    )
    print_table(
        "wall time (s)",
        ["seconds"],
        [("single split", [t_single.seconds]), (f"{args.folds} x single (cold)", [args.folds * t_single.seconds]),
         (f"{args.folds}-fold CV", [t_cv.seconds])],
    )  # fmt: skip
    emit_json(
        {
            "bench": "cv",
            "recipe": args.recipe,
            "overrides": OVERRIDES + extra,
            "folds": args.folds,
            "single": {"validation": val, "test": single["metrics"][metric], "seconds": t_single.seconds},
            "cv": {"mean": stats["mean"], "sd": stats["sd"], "ci95": stats["ci95"], "per_fold": stats["folds"],
                   "ensemble_test": cv.results["metrics"][metric], "seconds": t_cv.seconds},
            "machine": machine_info(),
        },
        args.json,
    )  # fmt: skip


if __name__ == "__main__":
    main()
