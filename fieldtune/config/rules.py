"""Cross-field rules of a recipe, in one place (single-field rules sit next to their field in schema.py),
and how an error message shows a value."""

from __future__ import annotations

import math
from typing import Any

from fieldtune.config.label_columns import check_label_columns
from fieldtune.config.schema import RunConfig
from fieldtune.errors import ConfigError
from fieldtune.targets.class_weights import is_balanced


def _show(value: Any, limit: int = 80) -> str:
    """`repr(value)` for an error message: one line, shortened, and safe for ints too long to print."""
    try:
        text = repr(value)
    except ValueError:  # an int above sys.get_int_max_str_digits(), or a list / mapping holding one
        if isinstance(value, int):
            return f"an integer of about {int(value.bit_length() * 0.30103)} digits"
        return f"a {type(value).__name__} holding an integer too long to print"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _positive_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(float(value)) and value > 0
    except OverflowError:  # an int past float's range
        return False


def validate(config: RunConfig) -> None:
    """Cross-field rules, in one place (single-field rules sit next to their field)."""
    task, data, method = config.task, config.data, config.method
    if not config.model.name_or_path:
        raise ConfigError(
            "`model.name_or_path` is required: a Hub id such as `bert-base-uncased` or a local folder."
        )
    from fieldtune.tasks.table import get_task

    spec = get_task(task)
    if spec.inputs.files and data.text_columns:
        raise ConfigError(f"`data.text_columns` is only valid for text tasks; this run is {task}.")
    if config.model.pooling in ("cls", "mean") and not spec.inputs.token_pooling:
        raise ConfigError(
            f"`model.pooling: {config.model.pooling}` chooses which token states a text model's head reads;"
            f" {task} models use their own head: remove it (or set auto)."
        )
    if data.threshold is not None and not spec.targets.named:
        raise ConfigError(
            "`data.threshold` turns a number into classes; use task text-classification with it."
        )
    if config.training.class_weights is not None and not spec.targets.class_weights:
        raise ConfigError("`training.class_weights` is only valid for classification tasks.")
    from fieldtune.modeling.methods import get_method
    from fieldtune.tasks.table import TASKS

    inputs = get_method(method.name).inputs
    if spec.inputs not in inputs:
        fits = ", ".join(t.name for t in TASKS.values() if t.inputs in inputs)
        raise ConfigError(f"`method.name: {method.name}` is only valid for {fits}; this run is {spec.name}.")
    check_label_columns(data, spec)
    _check_pretraining(config, spec)
    _check_cv(config)
    if config.ensemble.enabled:
        _check_ensemble(spec)
    if config.ensemble.choose_by != "primary_metric" and config.ensemble.baseline_weight != "auto":
        raise ConfigError(
            f"`ensemble.choose_by: {config.ensemble.choose_by}` says how `baseline_weight: auto` chooses the "
            f"weight, and this recipe's weight is {config.ensemble.baseline_weight}: set it to auto or remove "
            "choose_by."
        )
    if data.validation_size + data.test_size >= 0.9:
        raise ConfigError(
            "`data.validation_size` + `data.test_size` leave under 10% to train on; lower them."
        )
    if data.threshold is not None and len(data.threshold_labels) != 2:
        raise ConfigError("`data.threshold_labels` must name exactly two classes (below, above).")
    cw = config.training.class_weights
    if cw is not None and not isinstance(cw, (list, dict)) and not is_balanced(cw):
        raise ConfigError(
            f"`training.class_weights`: {_show(cw)} must be 'balanced', 'balanced_sqrt', a list or a mapping of"
            " label -> weight."
        )
    weights = cw if isinstance(cw, list) else list(cw.values()) if isinstance(cw, dict) else []
    bad = [w for w in weights if not _positive_number(w)]
    if bad:
        raise ConfigError(
            f"`training.class_weights`: {_show(bad[0])} is not a weight; weights must be positive finite numbers."
        )
    _check_methods(config, spec)
    if config.distill.enabled:
        _check_distill(config, spec)
    if config.hub.push and not config.hub.repo_id:
        raise ConfigError("`hub.push` is true but `hub.repo_id` is empty; set it to `namespace/name`.")
    if config.hub.repo_id is not None:
        from fieldtune.hub.repos import check_repo_id

        check_repo_id(config.hub.repo_id, "hub.repo_id")
    if config.name is not None and (not config.name or "/" in config.name or config.name in (".", "..")):
        raise ConfigError(
            f"`name`: {config.name!r} is not a valid run name; use letters, digits, '-' and '_'."
        )


def _check_ensemble(spec: Any) -> None:
    """`ensemble.baseline_weight` mixes class probabilities (or each label's odds) with the text baseline's:
    nothing else has them."""
    if not (spec.targets.baseline_ensemble and spec.inputs.fitted_baseline):
        raise ConfigError(
            f"`ensemble.baseline_weight` mixes a text classifier with the TF-IDF baseline; {spec.name} has no "
            "such pair: set it to 0 or remove it."
        )


def _check_methods(config: RunConfig, spec: Any) -> None:
    """The quality methods of the training section: each one says which targets it fits."""
    training = config.training
    if training.label_smoothing_factor and not spec.targets.label_smoothing:
        raise ConfigError(
            f"`training.label_smoothing_factor` smooths class targets; {spec.name} predicts a number: remove it."
        )
    if training.r_drop and not spec.targets.r_drop:
        raise ConfigError(
            f"`training.r_drop` compares two predicted class distributions; it is only valid for one class per"
            f" example (text-classification, image-classification), this run is {spec.name}: remove it."
        )
    if training.r_drop and config.model.dropout == 0:
        raise ConfigError(
            "`training.r_drop` compares two dropout masks, but `model.dropout: 0` turns dropout off;"
            " set `model.dropout` > 0 (e.g. 0.1) or remove `training.r_drop`."
        )
    from fieldtune.modeling.methods import get_method

    mixing = [k for k in ("mixup_alpha", "cutmix_alpha") if getattr(training, k)]
    if mixing and not spec.inputs.mixing:
        raise ConfigError(
            f"`training.{mixing[0]}` mixes pairs of training images; {spec.name} has no images: remove it."
        )
    if mixing and get_method(config.method.name).caches_features and config.method.feature_cache:
        raise ConfigError(
            f"`training.{mixing[0]}` mixes images, but `method.name: {config.method.name}` trains its head on"
            " cached backbone features; set `method.feature_cache: false` or remove it."
        )
    averaging = training.weight_averaging
    if averaging.start is None and (averaging.every_steps is not None or averaging.ema_decay is not None):
        raise ConfigError(
            "`training.weight_averaging` has no `start`; set `training.weight_averaging.start` (e.g. 0.75)."
        )


def _check_distill(config: RunConfig, spec: Any) -> None:
    """`distill.teacher` adds a teacher's softened class distribution to the training loss: the targets must
    be classes, the inputs carry it, and the model trains through its forward pass (not on cached features)."""
    if not (spec.targets.distillation and spec.inputs.soft_targets):
        raise ConfigError(
            f"`distill.teacher` trains on a teacher's class probabilities; it is only valid for one class per"
            f" text (text-classification), this run is {spec.name}: remove it."
        )
    from fieldtune.modeling.methods import get_method

    method = get_method(config.method.name)
    if method.fits_baseline or (method.caches_features and config.method.feature_cache):
        how = "fits the baseline" if method.fits_baseline else "trains its head on cached features"
        fix = "use another method" if method.fits_baseline else "set `method.feature_cache: false`"
        raise ConfigError(
            f"`distill.teacher` adds a loss term to training, but `method.name: {config.method.name}` {how};"
            f" {fix} or remove `distill.teacher`."
        )


def _check_pretraining(config: RunConfig, spec: Any) -> None:
    """`pretraining:` adapts the backbone with the self-supervised objective its inputs have (text: masked
    LM) before the method trains it: inputs without one, or a method without a backbone to train, refuse it."""
    pretraining = config.pretraining
    if not pretraining.epochs:
        if pretraining.extra_texts is not None:
            raise ConfigError(
                "`pretraining.extra_texts` is read only by the masked-LM phase, which is off; set"
                " `pretraining.epochs` > 0 (e.g. 1) or remove it."
            )
        return
    if spec.inputs.pretraining_class is None:
        raise ConfigError(
            f"`pretraining.epochs` continues a text encoder's masked-LM pre-training; {spec.name} has no such"
            " phase: set it to 0 or remove it."
        )
    from fieldtune.modeling.methods import get_method

    if get_method(config.method.name).fits_baseline:
        raise ConfigError(
            f"`pretraining.epochs` adapts the transformer's encoder, but `method.name: {config.method.name}` trains"
            " no transformer; set it to 0 or pick another method (full, lora, freeze, ...)."
        )


def _check_cv(config: RunConfig) -> None:
    """`cv.fold` names one of `cv.folds` folds (each fold's run of `fieldtune train --cv K` sets both)."""
    cv = config.cv
    if cv.fold is not None and cv.folds is None:
        raise ConfigError(f"`cv.fold: {cv.fold}` needs `cv.folds` (how many folds); set cv.folds: K.")
    if cv.fold is not None and cv.folds is not None and cv.fold >= cv.folds:
        raise ConfigError(f"`cv.fold: {cv.fold}` must be below `cv.folds: {cv.folds}` (folds count from 0).")
