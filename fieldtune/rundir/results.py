"""After training: predictions on the test split -> eval_results.json, predictions.csv, plots, model, card."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from fieldtune.config import RunConfig
from fieldtune.config.modality import for_modality
from fieldtune.config.recipe_paths import absolute_if_local
from fieldtune.evaluation.confidence import run_intervals
from fieldtune.rundir.card import build_model_card, write_model_card
from fieldtune.rundir.layout import atomic_write_text, write_json
from fieldtune.rundir.plots import (
    plot_confusion_matrix,
    plot_image_samples,
    plot_label_scores,
    plot_learning_curves,
    plot_predicted_vs_true,
    sample_indices,
)
from fieldtune.rundir.saving import is_peft_model, save_model
from fieldtune.tasks.scoring import real_units
from fieldtune.tasks.table import Task


def validation_metrics(log_history: list[dict], task: Task, best_restored: bool) -> dict[str, float] | None:
    """The validation scores of the model the run kept: the best evaluation of the last training phase when
    the best checkpoint was restored (`load_best_model_at_end`), else the last evaluation. None without any
    evaluation (no validation split). Read from the Trainer's log, so a resumed run counts every evaluation."""
    evals = [h for h in log_history if f"eval_{task.primary_metric}" in h]
    if not evals:
        return None
    last_phase = evals[-1].get("phase")
    evals = [h for h in evals if h.get("phase") == last_phase]
    chosen = evals[-1]
    if best_restored:
        key = f"eval_{task.primary_metric}"
        pick = max if task.greater_is_better else min
        chosen = pick(evals, key=lambda h: h[key])  # the first of equal scores, as Trainer keeps it
    return {
        k.removeprefix("eval_"): v
        for k, v in chosen.items()
        if k.startswith("eval_")
        and isinstance(v, (int, float))
        and not k.endswith(("_runtime", "_per_second"))
    } | {"step": chosen.get("step"), "epoch": chosen.get("epoch")}


def restored_step(trainer: Any, task: Task) -> int | None:
    """The step of the evaluation whose weights the run kept, when it restored the best checkpoint (not
    after weight averaging: those weights no evaluation of the log saw)."""
    averaging = getattr(trainer, "weight_averaging", None)
    if not trainer.args.load_best_model_at_end or (averaging is not None and averaging.applied):
        return None
    return (validation_metrics(trainer.state.log_history, task, True) or {}).get("step")


def final_validation(trainer: Any, splits: Any, task: Task) -> dict[str, float] | None:
    """`validation_metrics` of the weights the run keeps. After `training.weight_averaging` those are the
    average, which no logged evaluation saw: the validation split is evaluated once more (every process
    calls this: the evaluation is collective), else the log's choice stands."""
    averaging = getattr(trainer, "weight_averaging", None)
    if averaging is None or not averaging.applied or "validation" not in splits:
        return validation_metrics(trainer.state.log_history, task, trainer.args.load_best_model_at_end)
    # own prefix: the log's `eval_` entries stay those of training, and a later reading picks among them
    scores = trainer.evaluate(splits["validation"], metric_key_prefix="averaged")
    return {
        k.removeprefix("averaged_"): v
        for k, v in scores.items()
        if k.startswith("averaged_")
        and isinstance(v, (int, float))
        and not k.endswith(("_runtime", "_per_second"))
    } | {"step": trainer.state.global_step, "epoch": trainer.state.epoch}


def write_results(
    run_dir: Path,
    config: RunConfig,
    task: Task,
    trainer: Any,
    prepared: Any,
    raw_test: Any,
    test_output: Any,
    label_names: list[str] | None,
    target_scale: tuple[float, float] | None,
    extra: dict[str, Any],
    state_dict: dict | None = None,
) -> dict:
    """A trained transformers model: its test logits -> the run's files, and the model in HF format."""
    logits = (
        test_output.predictions[0] if isinstance(test_output.predictions, tuple) else test_output.predictions
    )
    refs = task.targets.references(raw_test["label"], len(label_names or []))
    if target_scale is not None:  # the trainer saw standardised targets; results are in real units
        logits, refs = real_units(logits, target_scale), real_units(refs, target_scale)
    base = absolute_if_local(config.model.name_or_path) or ""  # an adapter's base, found from any folder
    model = trainer.model
    if config.pretraining.epochs and is_peft_model(model) and state_dict is None:
        # the adapter's base would be the checkpoint, not the encoder the pretraining phase adapted: merged
        model = model.merge_and_unload()
    save_model(model, prepared.processor, run_dir / "model", base, state_dict)
    untuned = getattr(trainer.model.config, "fieldtune_untuned_thresholds", None)
    if untuned and untuned.get("labels"):  # named in eval_results.json and the card
        names = [label_names[j] for j in untuned["labels"]] if label_names else untuned["labels"]
        extra = {**extra, "untuned_thresholds": {**untuned, "labels": names}}
    return write_run_outputs(
        run_dir, config, task, logits, refs, raw_test, label_names, extra,
        thresholds=getattr(trainer.model.config, "fieldtune_thresholds", None),
        log_history=trainer.state.log_history,
        is_adapter=is_peft_model(model),
        kept_step=restored_step(trainer, task),
    )  # fmt: skip


def _label_scores(metrics: dict, refs: Any, predicted: list, names: list[str] | None, out: Path) -> None:
    plot_label_scores(metrics["per_class"], out)


def _confusion_matrix(metrics: dict, refs: Any, predicted: list, names: list[str], out: Path) -> None:
    plot_confusion_matrix(refs, [names.index(p) for p in predicted], names, out)


def _predicted_vs_true(metrics: dict, refs: Any, predicted: list, names: list[str] | None, out: Path) -> None:
    plot_predicted_vs_true(refs, predicted, out)


# The test plot each kind of target asks for (`Targets.plot`, also the file's name under plots/).
TEST_PLOTS: dict[str, Callable[..., None]] = {
    "label_scores": _label_scores,
    "confusion_matrix": _confusion_matrix,
    "predicted_vs_true": _predicted_vs_true,
}


def write_run_outputs(
    run_dir: Path,
    config: RunConfig,
    task: Task,
    logits: Any,
    refs: Any,
    raw_test: Any,
    label_names: list[str] | None,
    extra: dict[str, Any],
    thresholds: list[float] | None = None,
    log_history: list[dict] | None = None,
    is_adapter: bool = False,
    kept_step: int | None = None,
) -> dict:
    """Test outputs in real units (logits of a transformers head, or a baseline's scores) ->
    eval_results.json (with bootstrap intervals), predictions.csv, plots and the model card."""
    targets = task.targets
    metrics, columns = targets.evaluate(logits, refs, label_names, thresholds)
    label_text = targets.label_text(refs, label_names)
    results = {
        "task": task.name,
        "split": "test",
        "metrics": metrics,
        "primary_metric": task.primary_metric,
        "greater_is_better": task.greater_is_better,
        "model": str(run_dir),
        "num_test_examples": len(refs),
        # from the same per-example columns predictions.csv holds (the leaderboard's paired test reads those)
        "confidence_intervals": run_intervals(targets, label_text, columns, label_names),
        **({"thresholds": dict(zip(label_names or [], thresholds, strict=True))} if thresholds else {}),
        **extra,
    }
    write_json(run_dir / "eval_results.json", results)

    if "text" in raw_test.column_names:
        table = {"text": raw_test["text"]}
    else:  # images: where each came from (bytes-only images get their row number)
        from datasets import Image

        stored = raw_test.cast_column("image", Image(decode=False))["image"]
        table = {"file": [s.get("path") or f"#{i}" for i, s in enumerate(stored)]}
    table["label"] = label_text
    atomic_write_text(run_dir / "predictions.csv", pd.DataFrame({**table, **columns}).to_csv(index=False))

    plots = run_dir / "plots"
    TEST_PLOTS[targets.plot](metrics, refs, columns["predicted"], label_names, plots / f"{targets.plot}.png")
    if log_history is not None:  # a baseline has no training curve
        metric_range = targets.metric_range
        curves = plots / "learning_curves.png"
        plot_learning_curves(log_history, task.primary_metric, curves, kept_step, metric_range)
    if "image" in raw_test.column_names:  # a grid of test images titled true / predicted, every class shown
        picked = sample_indices([str(t) for t in table["label"]], 24)
        images = [raw_test[i]["image"].convert("RGB") for i in picked]
        true, predicted = (
            [str(table["label"][i]) for i in picked],
            [str(columns["predicted"][i]) for i in picked],
        )
        plot_image_samples(images, true, predicted, plots / "samples.png")

    card = build_model_card(
        results,
        for_modality(config.to_dict(), task.inputs),
        label_names,
        is_adapter=is_adapter,
        repo_id=config.hub.repo_id,
    )
    write_model_card(run_dir / "README.md", card)
    return results
