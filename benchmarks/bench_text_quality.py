"""Trained text runs against their TF-IDF baseline on the same test rows: one table, paired tests on two metrics.

The leaderboard's paired bootstrap ranks by one primary metric; a quality target such as "beats the baseline by
>= 1 point on accuracy AND macro-F1, significantly" needs both. This reads finished run directories (no
training here: the runs' own commands are in benchmarks/RESULTS.md), and prints for each run its test figures
with 95% bootstrap intervals, the paired-bootstrap difference against the baseline run on each metric (the
same resamples of the same rows, `fieldtune.evaluation.confidence.paired_difference`), the transformer alone when the
run is an ensemble, and its training time.

    python benchmarks/bench_text_quality.py --baseline /tmp/r35/base_sections \
        --run "MPNet full + TF-IDF=/tmp/r35/sections_cls_e4" --run "MiniLM=/tmp/hs/minilm" --json out.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from common import emit_json, machine_info, metric_cell, print_table, quiet_libraries

# what each kind of target is judged on: (paired against the baseline, shown)
METRICS = {
    "classes": (("accuracy", "f1_macro"), ("accuracy", "f1_macro", "top_3_accuracy")),
    "tags": (("f1_macro", "f1_micro"), ("f1_macro", "f1_micro", "subset_accuracy", "mean_average_precision")),
}


def _labelled(spec: str) -> tuple[str, Path]:
    name, sep, path = spec.rpartition("=")
    return (name if sep else Path(spec).name), Path(path if sep else spec)


def compare_runs(baseline: Path, runs: list[tuple[str, Path]]) -> dict[str, Any]:
    """Every run's figures and its paired differences with `baseline` on PAIRED metrics."""
    from fieldtune.leaderboard.ties import _kind, _read, compare

    base = json.loads((baseline / "eval_results.json").read_text())
    base_rows = _read(baseline / "predictions.csv")
    kind = _kind(base["task"])
    paired_metrics, shown = METRICS[kind.name]
    table: dict[str, Any] = {}
    for name, path in runs:
        results = json.loads((path / "eval_results.json").read_text())
        if results["num_test_examples"] != base["num_test_examples"]:
            raise SystemExit(
                f"{path}: {results['num_test_examples']} test rows, the baseline has {base['num_test_examples']}"
            )
        rows = _read(path / "predictions.csv")
        paired = {m: compare(rows, base_rows, kind, m) for m in paired_metrics}
        if any(p is None for p in paired.values()):
            raise SystemExit(f"{path}: its predictions.csv does not hold the baseline's test rows")
        ensemble = results.get("ensemble") or {}
        table[name] = {
            "run": str(path),
            "metrics": {m: results["metrics"].get(m) for m in shown},
            "results": results,
            "paired_vs_baseline": paired,
            "transformer_alone": ensemble.get("transformer"),
            "baseline_weight": ensemble.get("baseline_weight"),
            "train_runtime_s": results.get("train_runtime_s"),
        }
    return {"baseline": {"run": str(baseline), "results": base}, "kind": kind.name, "runs": table}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", required=True, help="the `fieldtune baseline` run directory")
    parser.add_argument("--run", action="append", required=True, help="NAME=RUN_DIR (repeatable)")
    parser.add_argument("--json", dest="json_out")
    args = parser.parse_args(argv)
    quiet_libraries()
    found = compare_runs(Path(args.baseline), [_labelled(s) for s in args.run])
    base = found["baseline"]["results"]
    names = ["baseline", *found["runs"]]
    cells = [base, *(r["results"] for r in found["runs"].values())]
    paired_metrics, shown = METRICS[found["kind"]]
    rows = [(m, [metric_cell(c, m) for c in cells]) for m in shown]
    for m in paired_metrics:
        rows.append(
            (
                f"{m} - baseline [95%]",
                ["-"]
                + [
                    f"{p['difference']:+.4f} [{p['interval'][0]:+.4f}, {p['interval'][1]:+.4f}]"
                    + (" *" if p["significant"] else "")
                    for p in (r["paired_vs_baseline"][m] for r in found["runs"].values())
                ],
            )
        )
    rows.append(("baseline weight", ["-"] + [r["baseline_weight"] for r in found["runs"].values()]))
    rows.append(
        ("train s", [base.get("train_runtime_s")] + [r["train_runtime_s"] for r in found["runs"].values()])
    )
    print_table(
        f"test split, n={base['num_test_examples']} (value [95% bootstrap interval]; * = paired interval excludes 0)",
        names,
        rows,
    )
    for name, r in found["runs"].items():
        if r["transformer_alone"]:
            alone = {m: round(r["transformer_alone"][m], 4) for m in shown if m in r["transformer_alone"]}
            print(f"{name}: the transformer alone on test {alone}")
    for r in found["runs"].values():
        r.pop("results")
    found["baseline"].pop("results")
    found["machine"] = machine_info()
    emit_json(found, args.json_out)
    return found


if __name__ == "__main__":
    main()
