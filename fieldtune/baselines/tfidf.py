"""The text baseline: word + character TF-IDF with a linear model (scikit-learn), saved with skops.

What a user would try first on a table of short texts: word (1-2) and char_wb (2-5) n-gram TF-IDF, then a
LinearSVC (classes; one per label for tags, scikit-learn's OneVsRest) or Ridge (numbers). Its scores go
through the same `Targets` as a transformers head's logits: LinearSVC margins for classes (softmax: a
ranking score, not a calibrated probability; `baseline.classifier: logistic_regression` gives log-probabilities),
margins for tags (sigmoid >= 0.5 is the SVM's own decision, margin >= 0), the value for numbers.

The fitted pipeline is saved as `model/model.skops` (skops: no pickle, so loading a downloaded file cannot
run code) next to `fieldtune_baseline.json` (task, labels, settings). `load_baseline` puts it behind the
call signature of a transformers classifier (`model(**batch).logits`), as `OnnxModel` does, so
`fieldtune predict` / `evaluate` / `leaderboard --benchmark` need no second path.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch

from fieldtune.config import BaselineConfig
from fieldtune.datasets_builders.normalize import CONFIG_KEY as NORMALIZE_KEY
from fieldtune.errors import ConfigError, ModelError
from fieldtune.rundir.layout import BASELINE_FILE, write_json
from fieldtune.tasks.table import TASKS, Task

MODEL_FILE = "model.skops"
# Types a baseline file may hold; anything else in a downloaded file is refused rather than loaded.
TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.")


def check_settings(task: Task, settings: BaselineConfig) -> None:
    """The `baseline:` section against the task, before the data is read."""
    clf, fits = settings.classifier, task.targets.baseline_classifiers
    if clf != "auto" and clf not in fits:
        use = f"{', '.join(fits)} or auto"
        raise ConfigError(f"`baseline.classifier: {clf}` does not fit {task.name}; use {use}.")


def build_pipeline(task: Task, settings: BaselineConfig, class_weight: Any = None) -> Any:
    """word + char_wb TF-IDF -> the task's linear model, as one scikit-learn Pipeline over raw texts."""
    from sklearn.pipeline import make_pipeline

    return make_pipeline(_features(settings), task.targets.baseline_model(settings, class_weight))


def _features(settings: BaselineConfig) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_union

    common = {"sublinear_tf": settings.sublinear_tf, "min_df": settings.min_df, "lowercase": True}
    return make_union(
        TfidfVectorizer(analyzer="word", ngram_range=tuple(settings.word_ngrams), **common),
        TfidfVectorizer(analyzer="char_wb", ngram_range=tuple(settings.char_ngrams), **common),
    )


def fit(pipeline: Any, texts: list[str], y: Any, settings: BaselineConfig) -> Any:
    """`pipeline.fit` with the user's `baseline:` values checked against the data first; scikit-learn's
    rejection of them (e.g. "After pruning, no terms remain") is one line naming the key, not a traceback."""
    if settings.min_df > len(texts):
        raise ConfigError(
            f"`baseline.min_df: {settings.min_df}` keeps only n-grams seen in {settings.min_df} training texts, "
            f"but the train split has {len(texts)}; lower baseline.min_df (e.g. 1 or 2)."
        )
    try:
        return pipeline.fit(texts, y)
    except ValueError as e:
        first = str(e).split(". ")[0].rstrip(".")
        raise ConfigError(
            f"The TF-IDF baseline cannot be fitted on the train split ({len(texts)} texts): {first}; "
            "lower baseline.min_df or widen baseline.word_ngrams / char_ngrams, or check the texts are not empty."
        ) from None


def check_features(texts: list[str], settings: BaselineConfig) -> None:
    """The TF-IDF features alone fitted on `texts` (seconds): the ensemble asks this before training."""
    fit(_features(settings), texts, None, settings)


def describe(task: Task, settings: BaselineConfig, class_weights: Any) -> str:
    """One line for the card and the leaderboard: what the baseline is."""
    w, c = settings.word_ngrams, settings.char_ngrams
    features = f"word {w[0]}-{w[1]} + char_wb {c[0]}-{c[1]} TF-IDF"
    return f"{features} + {task.targets.baseline_model_name(settings, class_weights)}"


def scores(pipeline: Any, task: Task, texts: list[str], num_labels: int) -> np.ndarray:
    """The pipeline's outputs as the `Targets` of the task read logits: (n, classes | labels | 1)."""
    if not texts:
        return np.zeros((0, max(num_labels, 1)), dtype=np.float32)
    return task.targets.baseline_scores(pipeline, texts, num_labels)


def save_baseline(pipeline: Any, model_dir: Path, meta: dict[str, Any]) -> None:
    """`model.skops` + `fieldtune_baseline.json` into `model_dir` (created)."""
    import skops.io as sio

    model_dir.mkdir(parents=True, exist_ok=True)
    sio.dump(pipeline, model_dir / MODEL_FILE)
    write_json(model_dir / BASELINE_FILE, {"format": "skops", "file": MODEL_FILE, **meta})


class BaselineModel:
    """A fitted scikit-learn pipeline behind the call signature of a transformers classifier."""

    def __init__(self, pipeline: Any, task: Task, label_names: list[str] | None, meta: dict) -> None:
        self.pipeline, self.task, self.label_names, self.meta = pipeline, task, label_names, meta
        # no fieldtune_thresholds: tags decide at margin 0 (sigmoid 0.5); the text normalisation of training
        self.config = SimpleNamespace(**{k: meta[k] for k in (NORMALIZE_KEY,) if meta.get(k)})
        self.total_params = int(meta.get("coefficients", 0))

    def __call__(self, texts: list[str], **_: Any) -> SimpleNamespace:
        logits = scores(self.pipeline, self.task, list(texts), len(self.label_names or []))
        return SimpleNamespace(logits=torch.from_numpy(logits))

    def eval(self) -> BaselineModel:
        return self

    def parameters(self) -> Any:
        return iter(())  # no torch parameters; `total_params` counts the fitted coefficients


class TextPassThrough:
    """The 'tokenizer' of a baseline: texts go to the pipeline as they are (its TF-IDF is the tokenizer)."""

    model_max_length = 10**9

    def __call__(self, texts: list[str], **_: Any) -> dict[str, list[str]]:
        return {"texts": list(texts)}


def coefficient_count(pipeline: Any) -> int:
    """Fitted weights of the linear model(s): what the leaderboard shows as parameters."""
    clf = pipeline[-1]
    parts = getattr(clf, "estimators_", None) or [clf]
    return int(sum(np.size(p.coef_) + np.size(getattr(p, "intercept_", 0)) for p in parts))


def load_baseline(model_dir: Path) -> tuple[BaselineModel, TextPassThrough, Task, list[str] | None]:
    """Read a baseline folder; refuses a file holding types outside scikit-learn / numpy / scipy."""
    import skops.io as sio

    path = model_dir / BASELINE_FILE
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
        path = model_dir / str(meta.get("file", MODEL_FILE))
        task = TASKS[meta["task"]]
        untrusted = sio.get_untrusted_types(file=path)
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as e:
        raise ModelError(
            f"Cannot read the baseline {path} ({type(e).__name__}: {str(e)[:120]}); "
            "fit it again with `fieldtune baseline RECIPE.yaml`."
        ) from None
    foreign = [t for t in untrusted if not t.startswith(TRUSTED_PREFIXES)]
    if foreign:
        raise ModelError(
            f"{path} holds types that are not scikit-learn's ({', '.join(foreign[:3])}); refusing to load it."
        )
    try:
        pipeline = sio.load(path, trusted=untrusted)
    except Exception as e:  # skops raises its own and the estimators' errors; all mean "bad file"
        raise ModelError(
            f"Cannot load {path} ({type(e).__name__}); fit it again with `fieldtune baseline`."
        ) from None
    labels = meta.get("label_names")
    return BaselineModel(pipeline, task, labels, meta), TextPassThrough(), task, labels
