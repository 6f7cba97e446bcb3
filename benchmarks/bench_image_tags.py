"""Multi-label images: the cargo_tags recipe, thresholds tuned on validation vs the plain 0.5 cut-off.

Runs `configs/cargo/cargo_tags_vit.yaml` (pretrained ViT-Tiny from models/, synthetic tagged boxes) with
any `--section.key=value` overrides, then scores the same test predictions twice: with the per-label
thresholds the run tuned on its validation split (what `fieldtune predict` applies) and with 0.5 for every
label (what a plain `pipeline(..., top_k=None)` user would do without the card). Prints both macro-F1s,
their ratio, the per-label thresholds and the wall time.

    OMP_NUM_THREADS=1 python benchmarks/bench_image_tags.py --method.name=probe --training.num_train_epochs=30 \
        --training.learning_rate=5e-3
    OMP_NUM_THREADS=1 python benchmarks/bench_image_tags.py --data.num_samples=400 --training.num_train_epochs=2
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT


def main(overrides: list[str]) -> None:
    import numpy as np
    import pandas as pd

    from fieldtune.config import load_config
    from fieldtune.tasks.scoring import Tags
    from fieldtune.training.run import run

    config = load_config(ROOT / "configs" / "cargo" / "cargo_tags_vit.yaml", overrides)
    config.model.name_or_path = str(ROOT / config.model.name_or_path)
    start = time.perf_counter()
    result = run(config, output_dir=Path(tempfile.mkdtemp()) / "cargo_tags")
    wall = time.perf_counter() - start
    preds = pd.read_csv(result.run_dir / "predictions.csv", keep_default_na=False)
    names = list(result.results["thresholds"])
    refs = np.array([[n in row.split(";") for n in names] for row in preds["label"]], dtype=np.int64)
    scores = preds[[f"score_{n}" for n in names]].to_numpy()
    logits = np.log(np.clip(scores, 1e-7, 1 - 1e-7) / np.clip(1 - scores, 1e-7, 1))
    tuned, _ = Tags().evaluate(logits, refs, names, list(result.results["thresholds"].values()))
    half, _ = Tags().evaluate(logits, refs, names, None)
    out = {
        "overrides": overrides,
        "test_examples": len(preds),
        "f1_macro_tuned": round(tuned["f1_macro"], 4),
        "f1_macro_at_0.5": round(half["f1_macro"], 4),
        "ratio_tuned_over_0.5": round(tuned["f1_macro"] / max(half["f1_macro"], 1e-9), 3),
        "subset_accuracy_tuned": round(tuned["subset_accuracy"], 4),
        "mean_average_precision": round(tuned["mean_average_precision"], 4),
        "thresholds": result.results["thresholds"],
        "per_label_f1": {n: round(v["f1"], 3) for n, v in tuned["per_class"].items()},
        "wall_s": round(wall, 1),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1:])
