"""The quality methods of the training section, each against the same recipe without it, on one split.

Trains the recipe once per variant (the first, `plain`, is the reference; every variant's overrides are added
to the shared ones), then prints test accuracy, macro-F1 and top-3 with their 95% bootstrap intervals, the
paired-bootstrap difference of accuracy and macro-F1 against the reference on the same test rows, and the
wall time of each run relative to it.

    python benchmarks/bench_methods.py --shared --training.num_train_epochs=3 --json benchmarks/out/methods.json
    python benchmarks/bench_methods.py --variant "smooth=--training.label_smoothing_factor=0.1" --only smooth
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from common import emit_json, machine_info, metric_cell, paired_difference, print_table, quiet_libraries

RECIPE = "configs/logistics/hs_sections_minilm_full.yaml"
METRICS = ("accuracy", "f1_macro", "top_3_accuracy")
# name -> overrides; `plain` is the reference. R-Drop needs dropout: its reference is `dropout`.
VARIANTS = {
    "plain": [],
    "label_smoothing": ["--training.label_smoothing_factor=0.1"],
    "swa": ["--training.weight_averaging.start=0.5", "--training.weight_averaging.every_steps=20"],
    "dropout": ["--model.dropout=0.1"],
    "r_drop": ["--model.dropout=0.1", "--training.r_drop=1.0"],
}
REFERENCE = {"r_drop": "dropout"}  # compared with the same dropout, without the KL term


def _train(recipe: str, overrides: list[str], out: Path) -> tuple[Path, float]:
    from fieldtune.config import load_config
    from fieldtune.training.run import run

    config = load_config(recipe, overrides)
    started = time.perf_counter()
    result = run(config, output_dir=out, overwrite=True)
    return result.run_dir, time.perf_counter() - started


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default=RECIPE)
    parser.add_argument("--out", default="benchmarks/out/methods", help="folder for the run directories")
    parser.add_argument("--variant", action="append", default=[], help="NAME=OVERRIDE[ OVERRIDE...]")
    parser.add_argument(
        "--only", help="variants to train, comma-separated (the others' runs in --out are reused)"
    )
    parser.add_argument("--json", dest="json_out")
    args, shared = parser.parse_known_args(argv)  # the rest: overrides shared by every variant
    quiet_libraries()
    variants = dict(VARIANTS)
    for spec in args.variant:
        name, _, overrides = spec.partition("=")
        variants[name] = overrides.split()
    out = Path(args.out)
    # `--only=` trains nothing: the table of the runs already in --out
    wanted = [w for w in args.only.split(",") if w] if args.only is not None else list(variants)
    wall: dict[str, float | None] = {}
    for name in wanted:
        _, wall[name] = _train(args.recipe, shared + variants[name], out / name)
    names = [n for n in variants if (out / n / "eval_results.json").is_file()]
    results = {n: json.loads((out / n / "eval_results.json").read_text()) for n in names}
    for n in names:  # runs from an earlier invocation: their recorded training time
        wall.setdefault(n, results[n].get("train_runtime_s"))
    rows = [(m, [metric_cell(results[n], m) for n in names]) for m in METRICS]
    rows.append(("wall s", [wall.get(n) for n in names]))
    paired: dict[str, Any] = {}
    for n in names:
        ref = REFERENCE.get(n, "plain")
        if n == ref or ref not in results:
            continue
        paired[n] = {"vs": ref} | {
            m: paired_difference(out / n, out / ref, m) for m in ("accuracy", "f1_macro")
        }
    print_table(f"{args.recipe} {' '.join(shared)}: test split (value [95% bootstrap interval])", names, rows)
    for n, p in paired.items():
        parts = [
            f"{m} {d['difference']:+.4f} [{d['interval'][0]:+.4f}, {d['interval'][1]:+.4f}]"
            f"{' significant' if d['significant'] else ''}"
            for m, d in p.items()
            if m != "vs" and d
        ]
        ratio = f"; time {wall[n] / wall[p['vs']]:.2f}x" if wall.get(n) and wall.get(p["vs"]) else ""
        print(f"{n} - {p['vs']}: " + ", ".join(parts) + ratio)
    result = {
        "recipe": args.recipe,
        "shared_overrides": shared,
        "variants": {n: variants[n] for n in names},
        "metrics": {n: {m: r["metrics"].get(m) for m in METRICS} for n, r in results.items()},
        "intervals": {n: r.get("confidence_intervals", {}).get("metrics") for n, r in results.items()},
        "paired": paired,
        "wall_s": wall,
        "machine": machine_info(),
    }
    emit_json(result, args.json_out)
    return result


if __name__ == "__main__":
    main()
