"""How far the linear half of a text ensemble can go: cross-validated variants of the TF-IDF baseline.

On the recipe's own train rows (same builder, seed and split as `fieldtune train` / `fieldtune baseline`;
the test split is never read), each variant of the `baseline:` settings is scored by stratified k-fold
cross-validation: accuracy and macro-F1, mean and spread over the folds, and the fit time. A variant that
is no better than the default here will not lift the ensemble either. `--via-chapters` adds one more row
for HS codes: the same pipeline fitted on the 2-digit chapters (96 classes) of the same rows, its
predictions mapped to their section.

    python benchmarks/bench_linear_cv.py                                   # HS sections, 5 folds
    python benchmarks/bench_linear_cv.py --recipe configs/logistics/hs_chapters_minilm.yaml --folds 3
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from common import emit_json, machine_info, print_table, quiet_libraries

RECIPE = "configs/logistics/hs_sections_minilm_full.yaml"
# Each variant: a name and the `baseline:` keys it changes from the recipe's own settings.
VARIANTS: list[tuple[str, dict[str, Any]]] = [
    ("recipe's baseline", {}),
    ("C=0.5", {"C": 0.5}),
    ("C=2", {"C": 2.0}),
    ("C=4", {"C": 4.0}),
    ("char_wb 1-6", {"char_ngrams": [1, 6]}),
    ("word 1-3", {"word_ngrams": [1, 3]}),
    ("min_df=2", {"min_df": 2}),
    ("raw tf (no sublinear)", {"sublinear_tf": False}),
    ("LogisticRegression C=10", {"classifier": "logistic_regression", "C": 10.0}),
]


def _cv(
    fit_predict: Callable[[list[str], np.ndarray, list[str]], np.ndarray],
    texts: list[str],
    labels: np.ndarray,
    folds: int,
    seed: int,
) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.model_selection import StratifiedKFold

    # Classes rarer than the fold count cannot be stratified; scikit-learn warns and still splits.
    split = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    acc, f1, seconds = [], [], 0.0
    for train, held in split.split(np.zeros(len(labels)), labels):
        started = time.perf_counter()
        predicted = fit_predict([texts[i] for i in train], labels[train], [texts[i] for i in held])
        seconds += time.perf_counter() - started
        acc.append(accuracy_score(labels[held], predicted))
        f1.append(f1_score(labels[held], predicted, average="macro"))
    return {
        "accuracy": float(np.mean(acc)),
        "accuracy_sd": float(np.std(acc)),
        "f1_macro": float(np.mean(f1)),
        "f1_macro_sd": float(np.std(f1)),
        "fit_s_per_fold": seconds / folds,
    }


def _chapter_of_text(config: Any) -> dict[str, str]:
    """Each six-digit description's 2-digit chapter, from the recipe's own table (a repeated description
    keeps its last code)."""
    from fieldtune.datasets_builders.tables import read_table

    path = Path(config.data.path)
    table = read_table(path / "harmonized-system.csv" if path.is_dir() else path)
    table = table[table["level"] == "6"]
    return dict(zip(table["description"].str.strip(), table["hscode"].str[:2], strict=True))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default=RECIPE)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--via-chapters", action="store_true", help="HS codes: add the fit-on-chapters row")
    parser.add_argument("--json", dest="json_out")
    args = parser.parse_args(argv)
    quiet_libraries()
    from fieldtune.baselines.tfidf import build_pipeline
    from fieldtune.config import load_config
    from fieldtune.datasets_builders import build_dataset
    from fieldtune.tasks.table import TASKS

    config = load_config(args.recipe)
    task = TASKS[config.task]
    train = build_dataset(config.data, task.name)["train"]
    texts, labels = list(train["text"]), np.asarray(train["label"])
    # Per fold, scikit-learn's `balanced` (n / (k * count), fieldtune's formula) on the fold's rows.
    weight = "balanced" if config.training.class_weights == "balanced" else None

    def fitter(settings: Any) -> Callable[[list[str], np.ndarray, list[str]], np.ndarray]:
        def fit_predict(fit_texts: list[str], y: np.ndarray, held: list[str]) -> np.ndarray:
            return build_pipeline(task, settings, weight).fit(fit_texts, y).predict(held)

        return fit_predict

    rows: dict[str, dict[str, float]] = {}
    for name, changes in VARIANTS:
        settings = dataclasses.replace(config.baseline, **changes)
        rows[name] = _cv(fitter(settings), texts, labels, args.folds, config.data.seed)
    if args.via_chapters:
        chapter_of = _chapter_of_text(config)
        section_of = {chapter_of[t.strip()]: y for t, y in zip(texts, labels, strict=True)}  # one per chapter
        inner = fitter(config.baseline)

        def via_chapters(fit_texts: list[str], y: np.ndarray, held: list[str]) -> np.ndarray:
            fit_chapters = np.asarray([chapter_of[t.strip()] for t in fit_texts])
            return np.asarray([section_of[c] for c in inner(fit_texts, fit_chapters, held)])

        rows["fit on chapters, mapped to sections"] = _cv(
            via_chapters, texts, labels, args.folds, config.data.seed
        )

    base = rows["recipe's baseline"]
    print_table(
        f"{args.recipe}: {len(texts)} train rows, {args.folds}-fold stratified CV (seed {config.data.seed})",
        ["CV accuracy", "CV macro-F1", "accuracy vs the recipe's", "fit s / fold"],
        [
            (
                name,
                [
                    f"{r['accuracy']:.4f} ± {r['accuracy_sd']:.4f}",
                    f"{r['f1_macro']:.4f} ± {r['f1_macro_sd']:.4f}",
                    f"{r['accuracy'] - base['accuracy']:+.4f}",
                    f"{r['fit_s_per_fold']:.1f}",
                ],
            )
            for name, r in rows.items()
        ],
    )
    result = {"recipe": args.recipe, "folds": args.folds, "rows": rows, "machine": machine_info()}
    emit_json(result, args.json_out)
    return result


if __name__ == "__main__":
    main()
