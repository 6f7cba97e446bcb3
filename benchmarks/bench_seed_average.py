"""Repeated-seed averaging, measured before it is built: runs of one recipe trained with different
`training.seed` values, each alone and with their class probabilities averaged, on the validation split
(where a recipe may choose) and on the test split (reported, never chosen on), same rows for all.

Each run's model is scored through the product's own loader (`load_for_inference`: the run's test-time
views, its ensemble if any), so "alone" equals `fieldtune evaluate RUN --split SPLIT`. Prints accuracy and
macro-F1 with 95% bootstrap intervals, and the paired bootstrap of the average against the best single run
on validation (the leaderboard's test, same resamples).

    fieldtune train configs/geology/lithology_full.yaml --output-dir /tmp/l/seed0
    fieldtune train configs/geology/lithology_full.yaml --training.seed=1 --output-dir /tmp/l/seed1
    python benchmarks/bench_seed_average.py /tmp/l/seed0 /tmp/l/seed1 --json /tmp/l/seeds.json
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
from common import emit_json, machine_info, print_table, quiet_libraries

SPLITS = ("validation", "test")
METRICS = ("accuracy", "f1_macro")


def _probabilities(run: Path) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], list[str]]:
    """Softmax probabilities and reference label ids of `run` on each split of its own data."""
    from scipy.special import softmax

    from fieldtune.datasets_builders import build_dataset
    from fieldtune.inference.evaluate import data_config_for, model_label_ids
    from fieldtune.inference.load import load_for_inference, predict_logits, split_batches

    loaded = load_for_inference(str(run))
    dd = build_dataset(data_config_for(loaded, str(run), None, None), loaded.task.name)
    probs, refs = {}, {}
    for split in SPLITS:
        probs[split] = softmax(predict_logits(loaded, split_batches(loaded, dd[split])), axis=-1)
        refs[split] = model_label_ids(loaded, dd[split], str(run))
    return probs, refs, list(loaded.label_names)


def _scores(refs: np.ndarray, probs: np.ndarray, names: list[str]) -> dict[str, Any]:
    from sklearn.metrics import accuracy_score, f1_score

    from fieldtune.evaluation.confidence import bootstrap_intervals

    predicted = probs.argmax(-1)
    text = [names[i] for i in refs], [names[i] for i in predicted]
    return {
        "accuracy": float(accuracy_score(refs, predicted)),
        "f1_macro": float(f1_score(refs, predicted, average="macro")),
        "intervals": bootstrap_intervals("classes", *text, METRICS, names)["metrics"],
        "predicted": text[1],
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run directories of one recipe, one seed each")
    parser.add_argument("--json", dest="json_out")
    args = parser.parse_args(argv)
    if len(args.runs) < 2:
        parser.error("give at least two run directories")
    quiet_libraries()
    from fieldtune.evaluation.confidence import paired_difference

    outputs = [_probabilities(run) for run in args.runs]
    names = outputs[0][2]
    columns = [run.name for run in args.runs] + ["average"]
    table: dict[str, dict[str, Any]] = {}
    for split in SPLITS:
        refs = outputs[0][1][split]
        if any(len(o[1][split]) != len(refs) or (o[1][split] != refs).any() for o in outputs):
            raise SystemExit(f"the runs' {split} splits differ: train them from one recipe and data.seed")
        members = [o[0][split] for o in outputs]
        scored = [_scores(refs, p, names) for p in members] + [_scores(refs, np.mean(members, 0), names)]
        table[split] = dict(zip(columns, scored, strict=True))
        text_refs = [names[i] for i in refs]
        best = max(columns[:-1], key=lambda c: table["validation"][c]["accuracy"])
        rows = [
            (m, [f"{s[m]:.4f} [{s['intervals'][m][0]:.4f}, {s['intervals'][m][1]:.4f}]" for s in scored])
            for m in METRICS
        ]
        print_table(f"{split} split, n={len(refs)} (value [95% bootstrap interval])", columns, rows)
        for m in METRICS:
            diff = paired_difference(
                "classes", text_refs, table[split]["average"]["predicted"], table[split][best]["predicted"], m
            )
            table[split][f"average_minus_{best}_{m}"] = diff
            print(
                f"  paired bootstrap average - {best} (best on validation), {m}: {diff['difference']:+.4f} "
                f"[{diff['interval'][0]:+.4f}, {diff['interval'][1]:+.4f}]"
                f" {'significant' if diff['significant'] else 'not significant'}"
            )
    for split in table.values():
        for entry in split.values():
            if isinstance(entry, dict):
                entry.pop("predicted", None)
    result = {"runs": [str(r) for r in args.runs], "splits": table, "machine": machine_info()}
    emit_json(result, args.json_out)
    return result


if __name__ == "__main__":
    main()
