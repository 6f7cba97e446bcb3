"""A shipped recipe against its TF-IDF baseline on the same split: the board with intervals and the paired test.

Fits `fieldtune baseline RECIPE` (seconds) and trains the recipe itself (minutes; or pass an already trained
run of the same recipe with --run), then ranks both with `fieldtune leaderboard`: accuracy, macro-F1 and
top-3 with their 95% bootstrap intervals, the paired-bootstrap difference of the primary metric, and the
wall-time ratio recipe / baseline.

    python benchmarks/bench_baseline.py                                            # HS sections, trains MiniLM
    python benchmarks/bench_baseline.py --run runs/hs_sections_minilm_full --json benchmarks/out/baseline.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from common import emit_json, machine_info, metric_cell, print_table, quiet_libraries

RECIPE = "configs/logistics/hs_sections_minilm_full.yaml"
METRICS = ("accuracy", "f1_macro", "top_3_accuracy")


def _fit(recipe: str, out: Path, baseline: bool) -> tuple[Path, float]:
    from fieldtune.config import load_config
    from fieldtune.training.run import run, run_baseline

    config = load_config(recipe)
    started = time.perf_counter()
    result = (run_baseline if baseline else run)(config, output_dir=out)
    return result.run_dir, time.perf_counter() - started


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default=RECIPE)
    parser.add_argument("--run", help="an already trained run of the recipe (skips training)")
    parser.add_argument("--out", default="benchmarks/out/baseline", help="folder for the new run directories")
    parser.add_argument("--json", dest="json_out")
    args = parser.parse_args(argv)
    quiet_libraries()
    from fieldtune.leaderboard import build_leaderboard

    out = Path(args.out)
    baseline_dir, baseline_s = _fit(args.recipe, out / "baseline", baseline=True)
    if args.run:
        recipe_dir, recipe_s = Path(args.run), None
    else:
        recipe_dir, recipe_s = _fit(args.recipe, out / "recipe", baseline=False)
    runs = {"recipe": recipe_dir, "baseline": baseline_dir}
    results = {k: json.loads((p / "eval_results.json").read_text()) for k, p in runs.items()}
    for a, b in (("recipe", "baseline"), ("baseline", "recipe")):  # the same split, or no comparison
        assert results[a]["num_test_examples"] == results[b]["num_test_examples"], "different test splits"
    boards, text = build_leaderboard(list(runs.values()), [], out / "board")
    print(text)
    [board] = boards
    leader = board.rows[0].entry.model
    other = board.rows[1]
    print_table(
        f"{args.recipe}: test split, n={results['recipe']['num_test_examples']} (value [95% bootstrap interval])",
        ["recipe", "baseline"],
        [
            (name, [metric_cell(results["recipe"], name), metric_cell(results["baseline"], name)])
            for name in METRICS
        ]
        + [("wall s (fit / train)", [recipe_s, baseline_s])],
    )
    times = (
        f"time recipe/baseline = {recipe_s / baseline_s:.1f}x (wall)"
        if recipe_s
        else "time: recipe trained earlier"
    )
    print(
        f"\nleader: {leader}; #2 {other.entry.model}: {other.vs_leader} "
        f"(paired difference of {board.primary_metric}: {other.difference})\n"
        f"accuracy recipe - baseline = {results['recipe']['metrics']['accuracy'] - results['baseline']['metrics']['accuracy']:+.4f}; "
        f"macro-F1 recipe - baseline = {results['recipe']['metrics']['f1_macro'] - results['baseline']['metrics']['f1_macro']:+.4f}; "
        + times
    )
    result = {
        "recipe": args.recipe,
        "runs": {k: str(p) for k, p in runs.items()},
        "metrics": {k: {m: r["metrics"].get(m) for m in METRICS} for k, r in results.items()},
        "intervals": {k: r.get("confidence_intervals", {}).get("metrics") for k, r in results.items()},
        "leader": leader,
        "paired": {"vs_leader": other.vs_leader, **(other.difference or {})},
        "wall_s": {"recipe": recipe_s, "baseline": baseline_s},
        "machine": machine_info(),
    }
    emit_json(result, args.json_out)
    return result


if __name__ == "__main__":
    main()
