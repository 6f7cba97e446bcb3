"""5-fold cross-validation (`fieldtune train --cv 5`) vs the recipe's single split, on the same recipe.

Both sides run in this process, each with its own empty cache (`FIELDTUNE_CACHE`):
(a) single split: `fieldtune.training.run.run` once: its validation figure (what a sweep would choose on) and test;
(b) CV: `fieldtune.cv.run_cv` with `cv.folds: K` over the same train + validation rows (test untouched):
    the CV mean ± sd (95% t-interval) of the held-out-fold scores, and the fold ensemble's test score.
Prints both, and the wall time of the K folds against K x the single run (K cold runs of one split each;
the single run is timed once and multiplied).

`--cost`: what the folds' shared caches save. The same K fold runs (`run()` with `cv.fold: i`) twice:
(a) K cold runs, each with its own empty cache (every fold decodes, tokenises and extracts features of its
own train + validation rows and the test split, as if nothing were shared); (b) the K folds of one CV
sharing one empty cache (the pooled rows decoded / tokenised once, each image's probe features extracted
once). Prints wall time, images decoded, texts tokenised and feature rows extracted per side, and checks
that each fold's validation scores are the same on both sides.

Default: the lithology thin sections (../shared/data/lithology/train, 1,525 images) with the feature-cached
linear probe on MobileNetV2 (the RESULTS.md "linear probe" row: 30 epochs, lr 3e-3).

    nice -n 10 python benchmarks/bench_cv.py --folds 5 --json benchmarks/out/cv_lithology_probe.json
    nice -n 19 python benchmarks/bench_cv.py --cost --folds 3 --json benchmarks/out/cv_cache_cost.json \
        --data.builder=geology_images --data.path=null --data.num_samples=240
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


class Counts:
    """Images decoded, texts tokenised and feature rows extracted in this process (wrapped functions)."""

    def __init__(self) -> None:
        import fieldtune.inputs.images as images
        import fieldtune.inputs.text as text
        import fieldtune.trainers.vision as vision

        self.decoded = self.tokenised = self.extracted = 0
        decode, encode, extract = (
            images.image_to_pixels,
            text.encode_batch,
            vision.VisionTrainer.pooled_features,
        )

        def counting_decode(image, spec):
            self.decoded += 1
            return decode(image, spec)

        def counting_encode(tokenizer, texts, limit):
            self.tokenised += len(texts)
            return encode(tokenizer, texts, limit)

        def counting_extract(trainer, dataset, desc="Extracting features"):
            self.extracted += len(dataset)
            return extract(trainer, dataset, desc)

        images.image_to_pixels, text.encode_batch = counting_decode, counting_encode
        vision.VisionTrainer.pooled_features = counting_extract

    def take(self) -> dict[str, int]:
        out = {"decoded": self.decoded, "tokenised": self.tokenised, "extracted": self.extracted}
        self.decoded = self.tokenised = self.extracted = 0
        return out


def cost(config, folds: int, work: Path) -> dict:
    """(a) K cold fold runs (one empty cache each) against (b) the K folds sharing one cache."""
    from fieldtune.cv.workers import fold_config
    from fieldtune.training.run import run

    config = dataclasses.replace(config, cv=dataclasses.replace(config.cv, folds=folds))
    counts = Counts()
    sides = {}
    for side in ("cold", "shared"):
        scores, seconds = [], 0.0
        if side == "shared":
            _fresh_cache(work, "cache-shared")
        for fold in range(folds):
            if side == "cold":
                _fresh_cache(work, f"cache-cold-{fold}")
            with Timer() as t:
                results = run(fold_config(config, fold), output_dir=work / side / f"fold-{fold}").results
            seconds += t.seconds
            scores.append(results.get("validation_metrics") or {})
        sides[side] = {"seconds": seconds, **counts.take(), "validation": scores}
    for a, b in zip(sides["cold"]["validation"], sides["shared"]["validation"], strict=True):
        keys = [k for k in a if isinstance(a[k], float) and k.endswith(("accuracy", "f1_macro"))]
        assert all(abs(a[k] - b[k]) < 1e-6 for k in keys), (a, b)  # the same folds, the same models
    return sides


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--recipe", default=RECIPE)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--json", help="Write the result as JSON to this file.")
    parser.add_argument(
        "--cost", action="store_true", help="K cold fold runs against K folds sharing caches."
    )
    args, extra = parser.parse_known_args()
    os.chdir(ROOT)
    quiet_libraries()
    from fieldtune.config import load_config
    from fieldtune.cv import run_cv
    from fieldtune.training.run import run

    config = load_config(args.recipe, OVERRIDES + extra)
    metric = "accuracy"
    work = Path(tempfile.mkdtemp(prefix="bench-cv-"))
    old_cache = os.environ.get("FIELDTUNE_CACHE")
    if args.cost:
        try:
            sides = cost(config, args.folds, work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        names = ["seconds", "decoded", "tokenised", "extracted"]
        print_table(
            f"{args.folds} fold runs: cold caches vs shared",
            names,
            [(f"{args.folds} cold runs", [sides["cold"][n] for n in names]),
             (f"{args.folds} folds, shared caches", [sides["shared"][n] for n in names])],
        )  # fmt: skip
        emit_json({"bench": "cv-cost", "recipe": args.recipe, "overrides": OVERRIDES + extra, "folds": args.folds,
                   **sides, "machine": machine_info()}, args.json)  # fmt: skip
        return
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
