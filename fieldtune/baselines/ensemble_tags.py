"""`ensemble.baseline_weight` for label sets: the fine-tuned tagger mixed with the TF-IDF baseline per label.

The baseline half is the recipe's OneVsRest LinearSVC (one per label). Its margins are made log-odds by
Platt's sigmoid per label, fitted on 5-fold out-of-fold margins of the train rows (margins of rows a model
was fitted on are too confident; CalibratedClassifierCV cannot take a label with 1-4 positives), and mixed
with the transformer's logits per label:

    logits = (1 - w) * transformer logits + w * (a_j * margin_j + b_j)

a weighted geometric mean of the two odds, so w = 0 is the transformer alone. The thresholds are tuned
again on the mixed validation logits, and `baseline_weight: auto` chooses w on validation (the primary
metric with those thresholds, ties to the lower log loss; or the reverse, `ensemble.choose_by: log_loss`). Platt's a, b per label are saved in the
baseline's json beside the pipeline (skops), so predict / evaluate mix exactly as the run did.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fieldtune.tasks.table import Task

FOLDS = 5


def best_on_validation(grid: Any, rank: dict[float, tuple[float, float]], by: str) -> float:
    """The weight of `grid` ranked first; `rank[w]`: (signed primary metric, -log loss). `by`
    (`ensemble.choose_by`): `primary_metric` ranks by the metric, ties to the lower log loss; `log_loss` by
    the log loss (a proper scoring rule: steadier than macro-F1 when rare classes have a few validation
    rows), ties to the metric. Then the smaller weight (`max` keeps the first of equals)."""
    return max(grid, key=(lambda w: rank[w][::-1]) if by == "log_loss" else rank.__getitem__)


def chosen_by(by: str, metric: str) -> str:
    """The criterion eval_results' `weight_search` records: the metric's name, or `log_loss`."""
    return "log_loss" if by == "log_loss" else metric


def platt_scaling(margins: np.ndarray, y: np.ndarray) -> list[list[float]]:
    """Per label, (a, b) of the sigmoid mapping out-of-fold margins to P(label); (1, 0) for a label that
    is always or never there in train (nothing to fit)."""
    from sklearn.linear_model import LogisticRegression

    out = []
    for j in range(y.shape[1]):
        positives = int(y[:, j].sum())
        if positives in (0, len(y)):
            out.append([1.0, 0.0])
            continue
        fit = LogisticRegression(C=1e4).fit(margins[:, [j]], y[:, j])  # ~unregularised, as Platt's
        out.append([round(float(fit.coef_[0, 0]), 6), round(float(fit.intercept_[0]), 6)])
    return out


def fit_tag_baseline(config: Any, task: Task, dd: Any, label_names: list[str]) -> tuple[Any, list]:
    """The recipe's baseline fitted on the train rows, and Platt's (a, b) per label."""
    import warnings

    from sklearn.model_selection import KFold, cross_val_predict

    from fieldtune.baselines.run import unfitted_baseline

    pipeline, y = unfitted_baseline(config, task, dd["train"]["label"], label_names)
    texts = list(dd["train"]["text"])
    folds = KFold(min(FOLDS, len(texts)), shuffle=True, random_state=0)
    with warnings.catch_warnings():  # a label absent from a fold's train rows: a constant, said once
        warnings.filterwarnings("ignore", message="Label .* is present in all training examples")
        warnings.filterwarnings("ignore", message="Label not .* is present in all training examples")
        margins = cross_val_predict(pipeline, texts, y, cv=folds, method="decision_function")
    pipeline.fit(texts, y)
    return pipeline, platt_scaling(np.asarray(margins).reshape(len(texts), -1), y)


def tag_log_odds(pipeline: Any, platt: list, texts: list[str], num_labels: int) -> np.ndarray:
    """The baseline half's calibrated log-odds per label (OneVsRest margins through Platt's a, b)."""
    if not texts:
        return np.zeros((0, num_labels), dtype=np.float32)
    margins = np.asarray(pipeline.decision_function(texts), dtype=np.float32).reshape(len(texts), -1)
    ab = np.asarray(platt, dtype=np.float32).reshape(-1, 2)
    return (margins * ab[:, 0] + ab[:, 1]).astype(np.float32)


def mix_tags(transformer_logits: Any, baseline_log_odds: Any, weight: float) -> np.ndarray:
    return ((1 - weight) * np.asarray(transformer_logits, dtype=np.float32)) + weight * np.asarray(
        baseline_log_odds, dtype=np.float32
    )


def _alone(logits: Any, refs: np.ndarray, label_names: list[str], thresholds: Any) -> dict[str, float]:
    """One half's scalar test metrics (the transformer with its own thresholds, the baseline at 0.5)."""
    from fieldtune.targets import Tags

    metrics = Tags().evaluate(np.asarray(logits), refs, label_names, thresholds)[0]
    return {k: round(float(v), 6) for k, v in metrics.items() if isinstance(v, (int, float))}


def _log_loss(logits: np.ndarray, refs: np.ndarray) -> float:
    z = np.asarray(logits, dtype=np.float64)
    return float(np.mean(np.logaddexp(0, z) - refs * z))  # BCE with logits


def choose_tag_weight(
    task: Task,
    transformer_logits: Any,
    baseline_log_odds: Any,
    refs: Any,
    label_names: list[str],
    grid: Any,
    by: str = "primary_metric",
) -> tuple[float, dict[str, Any]]:
    """The grid weight whose mix, with thresholds tuned on these rows, scores best (`by`: the primary
    metric, ties to the lower log loss, or the reverse; then the smaller weight), and every weight's scores."""
    from fieldtune.targets import Tags

    tags, metric, sign = Tags(), task.primary_metric, 1 if task.greater_is_better else -1
    scores, rank = {}, {}
    for w in grid:
        logits = mix_tags(transformer_logits, baseline_log_odds, w)
        thresholds = tags.calibrate(logits, refs)["fieldtune_thresholds"]
        value = float(tags.evaluate(logits, refs, label_names, thresholds)[0][metric])
        nll = _log_loss(logits, refs)
        scores[f"{w:g}"] = {metric: round(value, 6), "log_loss": round(nll, 6)}
        rank[w] = (sign * value, -nll)
    best = best_on_validation(grid, rank, by)
    return best, {
        "chosen_on": "validation",
        "chosen_by": chosen_by(by, metric),
        "metric": metric,
        "thresholds": "tuned per weight",
        "weights": scores,
    }


def ensemble_tags_test(
    config: Any,
    task: Task,
    dd: Any,
    label_names: list[str],
    test_logits: Any,
    validation_logits: Any,
    model_config: Any,
    grid: Any,
) -> tuple[Any, np.ndarray, dict[str, Any]]:
    """Fit the baseline half, mix it into the test logits: (pipeline, logits, results entry). The weight
    (`auto`: chosen on `validation_logits`) and the thresholds tuned on the mixed validation logits; the
    thresholds go into `model_config`, so the saved model decides as the mix was scored."""
    import time

    from fieldtune.baselines.tfidf import describe
    from fieldtune.targets import Tags

    k, tags = len(label_names), Tags()
    weight, search = config.ensemble.baseline_weight, None
    thresholds_alone = getattr(model_config, "fieldtune_thresholds", None)  # the transformer's own
    started = time.perf_counter()
    pipeline, platt = fit_tag_baseline(config, task, dd, label_names)
    fit_s = time.perf_counter() - started
    if validation_logits is not None:
        held_out = tag_log_odds(pipeline, platt, list(dd["validation"]["text"]), k)
        val_refs = tags.references(dd["validation"]["label"], k)
        if weight == "auto":
            weight, search = choose_tag_weight(
                task, validation_logits, held_out, val_refs, label_names, grid, config.ensemble.choose_by
            )
        for key, value in tags.calibrate(mix_tags(validation_logits, held_out, weight), val_refs).items():
            setattr(model_config, key, value)
    baseline = tag_log_odds(pipeline, platt, list(dd["test"]["text"]), k)
    refs = tags.references(dd["test"]["label"], k)
    entry = {
        "baseline_weight": weight,
        **({"weight_search": search} if search else {}),
        "combination": "weighted geometric mean of each label's odds (log-odds mixed)",
        "baseline_model": describe(task, config.baseline, config.training.class_weights)
        + f" (log-odds: Platt's sigmoid per label on {FOLDS}-fold out-of-fold margins)",
        "baseline_fit_s": round(fit_s, 3),
        "transformer": _alone(test_logits, refs, label_names, thresholds_alone),
        "baseline": _alone(baseline, refs, label_names, None),
        "platt": platt,
    }
    return pipeline, mix_tags(test_logits, baseline, weight), entry
