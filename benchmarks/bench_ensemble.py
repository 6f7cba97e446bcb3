"""A recipe with `ensemble.baseline_weight` against its TF-IDF baseline and its transformer alone, one split.

Fits `fieldtune baseline RECIPE` (the LinearSVC a user tries first), then either trains the recipe itself
(`fieldtune train`: the ensemble run) or takes an already trained run of it (--run, trained with or without
the ensemble key: the baseline half is fitted here with the product's own `ensemble_test`), and writes
three run directories on the same test rows: baseline, transformer alone, ensemble. Prints accuracy,
macro-F1 and top-3 with their 95% bootstrap intervals, the paired bootstrap ensemble - baseline (the
leaderboard's test, same resamples) and wall times.

    python benchmarks/bench_ensemble.py --recipe configs/logistics/hs_sections_minilm_full.yaml
    python benchmarks/bench_ensemble.py --recipe configs/logistics/hs_chapters_minilm.yaml --run RUN_DIR
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import time
from pathlib import Path
from typing import Any

from common import emit_json, machine_info, metric_cell, paired_difference, print_table, quiet_libraries

RECIPE = "configs/logistics/hs_sections_minilm_full.yaml"
METRICS = ("accuracy", "f1_macro", "top_3_accuracy")


def _rescore(config: Any, source: Path, out: Path, weight: float) -> tuple[Path, float]:
    """`source` run -> `out`: the same run scored as the transformer alone (weight 0) or as the ensemble,
    through the product's pieces (loader, `ensemble_test`, `write_run_outputs`, `save_ensemble`)."""
    from fieldtune.baselines.ensemble import ENSEMBLE_DIR, ensemble_test, save_ensemble
    from fieldtune.datasets_builders import build_dataset
    from fieldtune.inference.load import load_for_inference, predict_logits, split_batches
    from fieldtune.rundir.results import write_run_outputs
    from fieldtune.targets.class_weights import class_weight_tensor
    from fieldtune.tasks.scoring import label_names_of
    from fieldtune.tasks.table import get_task

    task = get_task(config.task)
    dd = build_dataset(config.data, task.name)
    names = label_names_of(dd["train"].features["label"])
    alone = load_for_inference(source, ensemble=False)
    logits = predict_logits(alone, split_batches(alone, dd["test"]))
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(source, out, ignore=shutil.ignore_patterns("checkpoints", ENSEMBLE_DIR))
    results = json.loads((source / "eval_results.json").read_text())
    extra = {k: v for k, v in results.items() if k not in ("metrics", "confidence_intervals", "ensemble")}
    started = time.perf_counter()
    if weight > 0:
        config = dataclasses.replace(
            config, ensemble=dataclasses.replace(config.ensemble, baseline_weight=weight)
        )
        weights = class_weight_tensor(config.training.class_weights, dd["train"]["label"], names)
        pipeline, logits, entry = ensemble_test(config, task, dd, names, weights, logits)
        save_ensemble(pipeline, out / "model", task, names, entry)
        extra["ensemble"] = entry
    refs = task.targets.references(dd["test"]["label"], len(names))
    write_run_outputs(out, config, task, logits, refs, dd["test"], names, {**extra, "model": str(out)})
    return out, time.perf_counter() - started


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default=RECIPE)
    parser.add_argument("--run", help="an already trained run of the recipe (skips training)")
    parser.add_argument("--weight", type=float, help="ensemble.baseline_weight (default: the recipe's)")
    parser.add_argument("--out", default="benchmarks/out/ensemble", help="folder for the run directories")
    parser.add_argument("--json", dest="json_out")
    args = parser.parse_args(argv)
    quiet_libraries()
    from fieldtune.config import load_config
    from fieldtune.leaderboard import build_leaderboard
    from fieldtune.training.run import run, run_baseline

    config = load_config(args.recipe)
    weight = args.weight if args.weight is not None else config.ensemble.baseline_weight
    out = Path(args.out)
    started = time.perf_counter()
    baseline_dir = run_baseline(config, output_dir=out / "baseline", overwrite=True).run_dir
    wall = {"baseline": time.perf_counter() - started}
    if args.run:  # trained earlier: the baseline half is fitted here
        trained, wall["transformer"] = Path(args.run), None
    else:
        started = time.perf_counter()
        trained = run(config, output_dir=out / "trained", overwrite=True).run_dir  # `fieldtune train`
        wall["transformer"] = time.perf_counter() - started
    alone_dir, _ = _rescore(config, trained, out / "transformer", 0.0)
    ensemble_dir, wall["ensemble_half"] = _rescore(config, trained, out / "ensemble", weight)
    runs = {"baseline": baseline_dir, "transformer": alone_dir, "ensemble": ensemble_dir}
    results = {k: json.loads((p / "eval_results.json").read_text()) for k, p in runs.items()}
    assert len({r["num_test_examples"] for r in results.values()}) == 1, "different test splits"
    boards, text = build_leaderboard(list(runs.values()), [], out / "board")
    print(text)
    paired = {m: paired_difference(ensemble_dir, baseline_dir, m) for m in ("accuracy", "f1_macro")}
    print_table(
        f"{args.recipe}: test split, n={results['baseline']['num_test_examples']}, baseline weight {weight:g}"
        " (value [95% bootstrap interval])",
        list(runs),
        [(m, [metric_cell(results[k], m) for k in runs]) for m in METRICS]
        + [("wall s", [wall["baseline"], wall["transformer"], wall["ensemble_half"]])],
    )
    for metric, diff in paired.items():
        if diff:
            print(
                f"paired bootstrap ensemble - baseline, {metric}: {diff['difference']:+.4f} "
                f"[{diff['interval'][0]:+.4f}, {diff['interval'][1]:+.4f}] "
                f"{'significant' if diff['significant'] else 'not significant'}"
            )
    result = {
        "recipe": args.recipe,
        "baseline_weight": weight,
        "runs": {k: str(p) for k, p in runs.items()},
        "metrics": {k: {m: r["metrics"].get(m) for m in METRICS} for k, r in results.items()},
        "intervals": {k: r.get("confidence_intervals", {}).get("metrics") for k, r in results.items()},
        "paired_ensemble_minus_baseline": paired,
        "leader": boards[0].rows[0].entry.model,
        "wall_s": wall,
        "machine": machine_info(),
    }
    emit_json(result, args.json_out)
    return result


if __name__ == "__main__":
    main()
