"""`ensemble.baseline_weight`: the fine-tuned text classifier mixed with the TF-IDF baseline.

After training, `run()` fits the recipe's `baseline:` pipeline on the same train rows (same class weights)
and mixes the two per class as a weighted geometric mean of probabilities:

    logits = (1 - w) * log_softmax(transformer logits) + w * log P(baseline)

so softmax(logits) is the normalised product P_t^(1-w) * P_b^w, and w = 0 is the transformer alone (same
softmax, same decisions). LinearSVC margins are not probabilities: the SVC is wrapped in scikit-learn's
CalibratedClassifierCV (Platt's sigmoid, up to 5 stratified folds; isotonic needs more rows than the rare
classes have), a logistic regression gives its own. The fitted pipeline is saved in
`model/ensemble_baseline/` (skops + json with the weight), beside the transformer's files: fieldtune's
loader puts both behind one `model(**batch).logits` (`EnsembleModel`, with a processor that returns the
token tensors and the raw texts), plain transformers loads the transformer alone.
"""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch

from fieldtune.baselines.ensemble_tags import best_on_validation, chosen_by
from fieldtune.config import BaselineConfig
from fieldtune.errors import ConfigError, DataError
from fieldtune.rundir.layout import BASELINE_FILE
from fieldtune.tasks.table import Task

ENSEMBLE_DIR = "ensemble_baseline"  # inside a model folder: the baseline half of an ensemble
CALIBRATION_FOLDS = 5
ENSEMBLE_NOTE = "the transformer graph alone; predict / evaluate on this folder mix in ensemble_baseline/"
FLOOR = 1e-6  # the smallest baseline probability: log(0) of a class train never showed stays finite
WEIGHT_GRID = tuple(round(0.1 * i, 1) for i in range(10))  # `baseline_weight: auto` chooses among these


def calibration_folds(
    task: Task, settings: BaselineConfig, labels: list[int], label_names: list[str] | None = None
) -> int | None:
    """Folds of the LinearSVC's calibration (None: logistic regression, already probabilities); refuses
    a class with fewer than 2 training rows, by its name in the data. `run()` asks before training, so a
    refusal costs seconds."""
    if settings.classifier == "logistic_regression":
        return None
    rarest, count = min(Counter(labels).items(), key=lambda kv: kv[1])
    if count < 2:
        name = label_names[rarest] if label_names and 0 <= rarest < len(label_names) else rarest
        raise DataError(
            f"`ensemble.baseline_weight`: class {name!r} has {count} training row; calibrating the "
            "LinearSVC needs >= 2 per class. Set `baseline.classifier: logistic_regression` or the weight to 0."
        )
    return min(CALIBRATION_FOLDS, count)


def check_ensemble_data(config: Any, task: Task, dd: Any) -> None:
    """What the ensemble needs of the splits, asked before training: calibration folds, TF-IDF features the
    `baseline:` settings can build, and a validation split for `baseline_weight: auto` to choose on."""
    from fieldtune.baselines.tfidf import check_features
    from fieldtune.tasks.scoring import label_names_of

    labels = dd["train"]
    if not task.targets.label_sets:  # label sets: Platt per label on out-of-fold margins, no folds to refuse
        calibration_folds(
            task, config.baseline, list(labels["label"]), label_names_of(labels.features["label"])
        )
    check_features(list(dd["train"]["text"]), config.baseline)  # baseline.min_df and the like vs the data
    if config.ensemble.baseline_weight == "auto" and "validation" not in dd:
        raise ConfigError(
            "`ensemble.baseline_weight: auto` chooses the weight on the validation split, and this run has "
            "none: set `data.validation_size` (e.g. 0.1) or a fixed weight such as 0.5."
        )


def probability_pipeline(
    task: Task,
    settings: BaselineConfig,
    class_weight: Any,
    labels: list[int],
    label_names: list[str] | None = None,
) -> Any:
    """The `baseline:` pipeline with class probabilities: LinearSVC calibrated, logistic regression as is."""
    from sklearn.calibration import CalibratedClassifierCV

    from fieldtune.baselines.tfidf import build_pipeline

    pipeline = build_pipeline(task, settings, class_weight)
    folds = calibration_folds(task, settings, labels, label_names)
    if folds is not None:
        name, clf = pipeline.steps[-1]
        pipeline.steps[-1] = (name, CalibratedClassifierCV(clf, method="sigmoid", cv=folds))
    return pipeline


def _calibrated(pipeline: Any) -> bool:
    return type(pipeline[-1]).__name__ == "CalibratedClassifierCV"


def log_probabilities(pipeline: Any, texts: list[str], num_labels: int) -> np.ndarray:
    """log P(class | text) of the fitted pipeline, one column per label (floored at `FLOOR`)."""
    out = np.full((len(texts), num_labels), FLOOR, dtype=np.float64)
    if texts:
        out[:, np.asarray(pipeline[-1].classes_, dtype=int)] = pipeline.predict_proba(texts)
    return np.log(np.maximum(out, FLOOR)).astype(np.float32)


def mix(transformer_logits: Any, baseline_log_probs: Any, weight: float) -> np.ndarray:
    """(1 - w) * log_softmax(transformer) + w * log P(baseline): the ensemble's logits."""
    t = torch.as_tensor(np.asarray(transformer_logits, dtype=np.float32))
    b = torch.as_tensor(np.asarray(baseline_log_probs, dtype=np.float32))
    return ((1 - weight) * torch.log_softmax(t, dim=-1) + weight * b).numpy()


def choose_weight(
    task: Task,
    transformer_logits: Any,
    baseline_log_probs: Any,
    refs: Any,
    label_names: list[str],
    by: str = "primary_metric",
) -> tuple[float, dict[str, Any]]:
    """The grid weight whose mix scores best on held-out rows (`by`, `ensemble.choose_by`: the task's
    primary metric, ties to the lower log loss; or `log_loss`, ties to the metric; then the smaller weight),
    and every weight's scores (eval_results' `weight_search`)."""
    metric, sign = task.primary_metric, 1 if task.greater_is_better else -1
    scores, rank = {}, {}
    for w in WEIGHT_GRID:
        logits = mix(transformer_logits, baseline_log_probs, w)
        value = float(task.targets.evaluate(logits, refs, label_names)[0][metric])
        nll = float(-torch.log_softmax(torch.from_numpy(logits), -1)[np.arange(len(refs)), refs].mean())
        scores[f"{w:g}"] = {metric: round(value, 6), "log_loss": round(nll, 6)}
        rank[w] = (sign * value, -nll)
    best = best_on_validation(WEIGHT_GRID, rank, by)
    return best, {
        "chosen_on": "validation",
        "chosen_by": chosen_by(by, metric),
        "metric": metric,
        "weights": scores,
    }


def fit_ensemble(config: Any, task: Task, dd: Any, label_names: list[str], weights: Any) -> Any:
    """The baseline half, fitted on `dd["train"]` with the run's class weights (None: unweighted)."""
    from fieldtune.baselines.tfidf import fit

    labels = list(dd["train"]["label"])
    class_weight = task.targets.baseline_class_weight(
        config.training.class_weights, labels, label_names, None if weights is None else weights.tolist()
    )
    pipeline = probability_pipeline(task, config.baseline, class_weight, labels, label_names)
    return fit(pipeline, list(dd["train"]["text"]), labels, config.baseline)


def save_ensemble(
    pipeline: Any, model_dir: Path, task: Task, label_names: list[str], entry: dict[str, Any]
) -> None:
    """`model_dir/ensemble_baseline/`: the fitted pipeline (skops) and its json, with the weight."""
    from fieldtune import __version__
    from fieldtune.baselines.tfidf import coefficient_count, save_baseline

    inner = [c.estimator for c in getattr(pipeline[-1], "calibrated_classifiers_", [])]  # one SVC per fold
    coefficients = sum(int(np.size(c.coef_) + np.size(c.intercept_)) for c in inner)
    meta = {
        "task": task.name,
        "label_names": label_names,
        "model": entry["baseline_model"],
        "coefficients": coefficients or coefficient_count(pipeline),
        "baseline_weight": entry["baseline_weight"],
        **({"platt": entry["platt"]} if "platt" in entry else {}),  # label sets: margins -> log-odds
        "fieldtune_version": __version__,
    }
    save_baseline(pipeline, Path(model_dir) / ENSEMBLE_DIR, meta)


def has_ensemble(model_dir: Path | None) -> bool:
    return model_dir is not None and (Path(model_dir) / ENSEMBLE_DIR / BASELINE_FILE).is_file()


def carry_ensemble(model_dir: Path, out: Path) -> None:
    """An exported folder (merged weights, ONNX) keeps the baseline half, so it predicts as the run."""
    if has_ensemble(model_dir):
        shutil.copytree(Path(model_dir) / ENSEMBLE_DIR, Path(out) / ENSEMBLE_DIR)


class EnsembleModel:
    """A transformers (or ONNX) classifier and a fitted baseline behind one `model(**batch).logits`."""

    def __init__(self, model: Any, baseline: Any, weight: float) -> None:
        self.model, self.baseline, self.weight = model, baseline, float(weight)
        self.config = model.config  # labels, normalisation mode: the transformer's
        self.total_params = int(baseline.meta.get("coefficients", 0)) + sum(
            p.numel() for p in self.parameters()
        )

    def __call__(self, texts: list[str], **inputs: Any) -> SimpleNamespace:
        logits = self.model(**inputs).logits
        platt = self.baseline.meta.get("platt")
        if platt is not None:  # label sets: log-odds per label (`ensemble_tags`)
            from fieldtune.baselines.ensemble_tags import mix_tags, tag_log_odds

            odds = tag_log_odds(self.baseline.pipeline, platt, list(texts), logits.shape[-1])
            return SimpleNamespace(logits=torch.from_numpy(mix_tags(logits.float().cpu(), odds, self.weight)))
        scores = log_probabilities(self.baseline.pipeline, list(texts), logits.shape[-1])
        return SimpleNamespace(logits=torch.from_numpy(mix(logits.float().cpu(), scores, self.weight)))

    def eval(self) -> EnsembleModel:
        self.model.eval()
        return self

    def parameters(self) -> Any:
        params = getattr(self.model, "parameters", None)
        return params() if params is not None else iter(())


class EnsembleProcessor:
    """The transformer's tokenizer, plus the raw texts for the baseline half in the same batch."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer

    def __call__(self, texts: list[str], **kwargs: Any) -> dict[str, Any]:
        return {**self.tokenizer(list(texts), **kwargs), "texts": list(texts)}

    def __getattr__(self, name: str) -> Any:  # model_max_length, save_pretrained, ...
        return getattr(self.tokenizer, name)


def with_ensemble(model: Any, processor: Any, model_dir: Path) -> tuple[EnsembleModel, EnsembleProcessor]:
    """Wrap a loaded transformer and its tokenizer with the baseline saved in `model_dir`."""
    from fieldtune.baselines.tfidf import load_baseline

    baseline, _, _, _ = load_baseline(Path(model_dir) / ENSEMBLE_DIR)
    return EnsembleModel(model, baseline, baseline.meta["baseline_weight"]), EnsembleProcessor(processor)


def part_metrics(task: Task, logits: Any, refs: Any, label_names: list[str]) -> dict[str, float]:
    """Accuracy, macro-F1 and top-k of one half alone (eval_results' `ensemble` entry)."""
    metrics = task.targets.evaluate(np.asarray(logits), refs, label_names)[0]
    return {k: round(float(v), 6) for k, v in metrics.items() if isinstance(v, (int, float))}


def ensemble_test(
    config: Any,
    task: Task,
    dd: Any,
    label_names: list[str],
    weights: Any,
    test_logits: Any,
    validation_logits: Any = None,
    model_config: Any = None,
) -> tuple[Any, np.ndarray, dict[str, Any]]:
    """Fit the baseline half, mix it into the transformer's test logits: (pipeline, logits, results entry).
    With `baseline_weight: auto` the weight is chosen on `validation_logits` (the validation split's).
    Label sets: `ensemble_tags` (their thresholds, tuned again on the mix, go into `model_config`)."""
    import time

    from fieldtune.baselines.tfidf import describe

    if task.targets.label_sets:
        from fieldtune.baselines.ensemble_tags import ensemble_tags_test

        return ensemble_tags_test(
            config, task, dd, label_names, test_logits, validation_logits, model_config, WEIGHT_GRID
        )

    weight, search = config.ensemble.baseline_weight, None
    started = time.perf_counter()
    pipeline = fit_ensemble(config, task, dd, label_names, weights)
    fit_s = time.perf_counter() - started
    targets = task.targets
    if weight == "auto":
        held_out = log_probabilities(pipeline, list(dd["validation"]["text"]), len(label_names))
        val_refs = targets.references(dd["validation"]["label"], len(label_names))
        weight, search = choose_weight(
            task, validation_logits, held_out, val_refs, label_names, config.ensemble.choose_by
        )
    baseline = log_probabilities(pipeline, list(dd["test"]["text"]), len(label_names))
    refs = targets.references(dd["test"]["label"], len(label_names))
    entry = {
        "baseline_weight": weight,
        **({"weight_search": search} if search else {}),
        "combination": "weighted geometric mean of class probabilities",
        "baseline_model": describe(task, config.baseline, config.training.class_weights)
        + (" (probabilities: CalibratedClassifierCV, sigmoid)" if _calibrated(pipeline) else ""),
        "baseline_fit_s": round(fit_s, 3),
        "transformer": part_metrics(task, test_logits, refs, label_names),
        "baseline": part_metrics(task, baseline, refs, label_names),
    }
    return pipeline, mix(test_logits, baseline, weight), entry
