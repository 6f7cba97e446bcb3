"""Label sets: how many validation positives a label needs before its own threshold beats a shared one.

Chosen on the validation split alone: a trained run's validation logits (the transformer alone), the
recipe's TF-IDF baseline (Platt log-odds, as `ensemble.baseline_weight` uses them) and their 0.5 mix are
split in random halves; thresholds are tuned on one half with `min_positives` = 1, 3, 5, 10, 20 and
"all shared", and scored on the other half (both ways, 20 halvings). Prints macro / micro-F1 per setting
(one JSON line per score source). Counts are per half: 5 per half is ~10 on the whole validation split.

    OMP_NUM_THREADS=1 python benchmarks/bench_tag_thresholds.py RUN_DIR --data.builder=text_table \
        --data.path=../shared/data/maintie/maintie_gold_tags.jsonl --data.text_columns='[text]' \
        --data.label_column=labels
"""

from __future__ import annotations

import json
import sys

from common import ROOT

SETTINGS = (1, 3, 5, 10, 20, 10**6)  # 10**6: every label keeps the shared threshold


def main(run_dir: str, overrides: list[str]) -> None:
    import numpy as np
    from sklearn.metrics import f1_score

    from fieldtune.baselines.ensemble_tags import fit_tag_baseline, mix_tags, tag_log_odds
    from fieldtune.config import load_config
    from fieldtune.datasets_builders import build_dataset
    from fieldtune.inference.load import load_for_inference, predict_logits, split_batches
    from fieldtune.tasks.scoring import Tags, sigmoid, tune_thresholds
    from fieldtune.tasks.table import get_task

    config = load_config(ROOT / "configs" / "logistics" / "shipment_tags_minilm_lora.yaml", overrides)
    task = get_task(config.task)
    dd = build_dataset(config.data, task.name)
    names = dd["train"].features["label"].feature.names
    loaded = load_for_inference(run_dir, ensemble=False)
    transformer = predict_logits(loaded, split_batches(loaded, dd["validation"]))
    refs = Tags.references(dd["validation"]["label"], len(names))
    pipeline, platt = fit_tag_baseline(config, task, dd, names)
    baseline = tag_log_odds(pipeline, platt, list(dd["validation"]["text"]), len(names))
    rng = np.random.default_rng(0)
    for source, logits in (
        ("transformer", transformer), ("baseline", baseline), ("mix_0.5", mix_tags(transformer, baseline, 0.5))
    ):  # fmt: skip
        scores, row = sigmoid(logits), {"source": source, "validation_rows": len(refs)}
        for setting in SETTINGS:
            macro, micro = [], []
            for _ in range(20):
                order = rng.permutation(len(scores))
                half = len(scores) // 2
                for tune, score in ((order[:half], order[half:]), (order[half:], order[:half])):
                    cut = np.asarray(tune_thresholds(scores[tune], refs[tune], min_positives=setting))
                    pred = (scores[score] >= cut).astype(int)
                    macro.append(f1_score(refs[score], pred, average="macro", zero_division=0))
                    micro.append(f1_score(refs[score], pred, average="micro", zero_division=0))
            key = "all_shared" if setting == 10**6 else f"min_positives_{setting}_per_half"
            row[key] = {
                "f1_macro": round(float(np.mean(macro)), 4),
                "f1_micro": round(float(np.mean(micro)), 4),
            }
        print(json.dumps(row))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
