"""The `baseline:` and `ensemble:` sections of a recipe: the classical TF-IDF model and its mix with the
fine-tuned one.

Kept beside schema.py (same field style: a default, a help text, a check) so the schema stays readable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from fieldtune.config.checks import _f, _positive, _weight


def _ngram_range(v: Any) -> str | None:
    ok = isinstance(v, list) and len(v) == 2 and all(isinstance(n, int) and n >= 1 for n in v)
    return None if ok and v[0] <= v[1] else "must be [min, max] with 1 <= min <= max"


@dataclass
class BaselineConfig:
    """`fieldtune baseline` / `method.name: baseline` on text (images: a linear probe of the backbone)."""

    classifier: Literal["auto", "linear_svc", "logistic_regression", "ridge"] = _f(
        "auto",
        "auto: LinearSVC for classes and tags (one per label), Ridge for numbers. logistic_regression gives"
        " calibrated probabilities as scores (LinearSVC's scores are a softmax of its margins).",
    )
    C: float = _f(1.0, "Inverse regularisation strength of LinearSVC / LogisticRegression.", check=_positive)
    alpha: float = _f(1.0, "Ridge regularisation strength (numbers).", check=_positive)
    word_ngrams: list[int] = _f(
        None, "Word n-gram range of the word TF-IDF.", factory=lambda: [1, 2], check=_ngram_range
    )
    char_ngrams: list[int] = _f(
        None,
        "Character n-gram range of the char_wb TF-IDF (n-grams inside word boundaries).",
        factory=lambda: [2, 5],
        check=_ngram_range,
    )
    sublinear_tf: bool = _f(True, "TF-IDF with 1 + log(tf) instead of raw term counts.")
    min_df: int = _f(1, "Ignore n-grams seen in fewer training texts.", check=_positive)
    guard: bool = _f(
        True,
        "Text runs: after training, fit this baseline on the same train split (seconds) and say at the end"
        " when the run is clearly below it on validation (eval_results' `baseline_check`).",
    )


@dataclass
class EnsembleConfig:
    """The fine-tuned text classifier mixed with the TF-IDF baseline (its settings: the `baseline:` section)."""

    baseline_weight: float | Literal["auto"] = _f(
        0.0,
        "0 (off), the weight w of the baseline in the ensemble, or `auto`: after training, the `baseline:`"
        " model is fitted on the same train rows (LinearSVC calibrated by CalibratedClassifierCV, sigmoid, up"
        " to 5 folds) and the logits become (1 - w) * log softmax(transformer) + w * log P(baseline), a"
        " weighted geometric mean of the two. `auto` chooses w on the validation split (0, 0.1, ..., 0.9: the"
        " task's primary metric, ties to the lower log loss; the scores are in eval_results.json), else w is"
        " fixed in the recipe; never chosen on test. Saved in model/ensemble_baseline/, so predict / evaluate"
        " / push use the ensemble (plain transformers loads the transformer alone). Text classes and label"
        " sets (tags: each label's logits mixed with the baseline's Platt-calibrated log-odds, thresholds"
        " tuned again on the mix); `fieldtune baseline` (`method.name: baseline`) ignores it: it is the"
        " baseline alone.",
        check=_weight,
    )
    choose_by: Literal["primary_metric", "log_loss"] = _f(
        "primary_metric",
        "What `baseline_weight: auto` chooses w by on the validation split: the task's primary metric (ties"
        " to the lower log loss), or `log_loss` (a proper scoring rule, steadier when rare classes have few"
        " validation rows; ties to the metric). eval_results' `weight_search.chosen_by` records it.",
    )

    @property
    def enabled(self) -> bool:
        return self.baseline_weight == "auto" or self.baseline_weight > 0
