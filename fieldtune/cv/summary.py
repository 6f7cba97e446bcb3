"""The cross-validation summary: every training row predicted once by the fold model that never saw it.

`oof_predictions.csv`: one row per train + validation row (`row` = its place in the pooled rows), its
fold, label, prediction and the fold model's probabilities (`prob_<label>`; numbers: `predicted`).
`cv_results.json`: each fold's scores on its held-out fold, their mean, standard deviation and a 95%
t-interval over the K fold scores (the folds share training rows, so the interval is approximate: no
unbiased variance estimate of k-fold CV exists, Bengio & Grandvalet 2004). `plots/cv_folds.png`: the primary metric per fold with the mean and interval.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fieldtune.datasets_builders.folds import FoldRows, fold_ids, pooled
from fieldtune.inference.load import cached_split_batches, load_for_inference, predict_logits, thresholds_of
from fieldtune.rundir.layout import (
    CV_RESULTS,
    FOLD_PREFIX,
    OOF_FILE,
    atomic_write_bytes,
    atomic_write_text,
    write_json,
)
from fieldtune.tasks.scoring import label_names_of
from fieldtune.tasks.table import Task


def fold_dir(cv_dir: Path, fold: int) -> Path:
    return cv_dir / f"{FOLD_PREFIX}{fold}"


def _scalars(metrics: dict[str, Any]) -> dict[str, float]:
    return {
        k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
    }


def interval(values: list[float], level: float = 0.95) -> dict[str, Any]:
    """Mean, sample standard deviation and a t-interval of K fold scores."""
    from scipy.stats import t

    x = np.asarray(values, dtype=np.float64)
    mean, sd = float(x.mean()), float(x.std(ddof=1)) if len(x) > 1 else 0.0
    half = float(t.ppf(0.5 + level / 2, len(x) - 1) * sd / np.sqrt(len(x))) if len(x) > 1 else 0.0
    return {"mean": mean, "sd": sd, "ci95": [mean - half, mean + half], "folds": [float(v) for v in x]}


def _inputs_column(ds: Any) -> dict[str, list]:
    """What identifies a row for a reader: its text, or its image file (as predictions.csv)."""
    if "text" in ds.column_names:
        return {"text": list(ds["text"])}
    from datasets import Image

    stored = ds.cast_column("image", Image(decode=False))["image"]
    return {"file": [s.get("path") or "" for s in stored]}


def out_of_fold(cv_dir: Path, task: Task, dd: Any, k: int, seed: int) -> tuple[pd.DataFrame, list[dict]]:
    """Each fold's saved model on its held-out rows: the out-of-fold table and each fold's scores."""
    targets = task.targets
    rows = pooled(dd)
    ids = fold_ids(rows, k, seed)
    label_names = label_names_of(rows.features["label"])
    parts, per_fold = [], []
    for fold in range(k):
        idx = np.flatnonzero(ids == fold)
        held = rows.select(idx)
        loaded = load_for_inference(fold_dir(cv_dir, fold))
        # images: the pooled rows' pixels the fold runs cached, not decoded again
        batches = cached_split_batches(loaded, "held", held, FoldRows(rows, {"held": idx}))
        logits = predict_logits(loaded, batches, desc=f"Fold {fold}")
        refs = targets.references(held["label"], len(label_names or []))
        thresholds = thresholds_of(loaded)
        metrics, columns = targets.evaluate(logits, refs, label_names, thresholds)
        per_fold.append({"fold": fold, "num_examples": len(idx), **_scalars(metrics)})
        probs = targets.probabilities(logits)
        names = [f"prob_{n}" for n in label_names] if label_names else []
        table = {
            "row": idx,
            "fold": fold,
            **_inputs_column(held),
            "label": targets.label_text(refs, label_names),
        }
        table |= {k_: v for k_, v in columns.items() if not k_.startswith("in_top_")}
        table |= {n: probs[:, j].round(6) for j, n in enumerate(names)}
        parts.append(pd.DataFrame(table))
    oof = pd.concat(parts).sort_values("row").reset_index(drop=True)
    return oof, per_fold


def summarise(per_fold: list[dict], task: Task, k: int, seed: int, runs: list[dict]) -> dict[str, Any]:
    """cv_results.json: every fold metric's mean, sd and interval, and what each fold run reported."""
    keys = [m for m in per_fold[0] if m not in ("fold", "num_examples") and all(m in f for f in per_fold)]
    return {
        "task": task.name,
        "folds": k,
        "seed": seed,
        "primary_metric": task.primary_metric,
        "greater_is_better": task.greater_is_better,
        "interval": "95% t-interval over the fold scores (folds share training rows: approximate)",
        "metrics": {m: interval([f[m] for f in per_fold]) for m in keys},
        "per_fold": [f | run for f, run in zip(per_fold, runs, strict=True)],
    }


def plot_folds(summary: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metric = summary["primary_metric"]
    stats = summary["metrics"][metric]
    fig, ax = plt.subplots(figsize=(max(4.0, 0.8 * summary["folds"] + 2), 3.2))
    ax.bar(range(summary["folds"]), stats["folds"], color="#4c72b0")
    ax.axhline(stats["mean"], color="black", label=f"mean {stats['mean']:.4f} ± {stats['sd']:.4f} (sd)")
    ax.axhspan(*stats["ci95"], color="grey", alpha=0.25, label="95% interval")
    ax.set_xticks(range(summary["folds"]))
    ax.set_xlabel("fold")
    ax.set_ylabel(f"held-out {metric}")
    ax.legend(loc="lower right", fontsize=8)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return path


def write_summary(cv_dir: Path, task: Task, dd: Any, k: int, seed: int, runs: list[dict]) -> dict[str, Any]:
    """oof_predictions.csv, cv_results.json and plots/cv_folds.png in the CV directory."""
    oof, per_fold = out_of_fold(cv_dir, task, dd, k, seed)
    summary = summarise(per_fold, task, k, seed, runs)
    atomic_write_text(cv_dir / OOF_FILE, oof.to_csv(index=False))
    plot_folds(summary, cv_dir / "plots" / "cv_folds.png")
    write_json(cv_dir / CV_RESULTS, summary)
    return summary
