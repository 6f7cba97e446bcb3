"""Collect leaderboard entries from run directories, model cards on the Hub, and raw eval results.

Every source is turned into the same flat `Entry`, so ranking and rendering never need to know where
a score came from. A run directory's `eval_results.json` is the richest source (method, parameter
counts, speed); a Hub model card's `model-index` carries only scores.

Example:
    >>> entry = entry_from_run(Path("runs/demo"))
    >>> entry.primary_metric, entry.metrics[entry.primary_metric]
    ('f1_macro', 0.88)
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from huggingface_hub import ModelCard, constants, hf_hub_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from fieldtune.errors import HubError, RunDirError
from fieldtune.leaderboard.exported import EXPORT_REPORT_FILE, export_results, runtime_of
from fieldtune.leaderboard.kinds import baseline_of, ensemble_of, kinds_of_card
from fieldtune.modeling.hub_access import unreachable_uncached
from fieldtune.rundir.reader import RunDirectory, read_results_file
from fieldtune.targets import LOWER_IS_BETTER as SCORED_LOWER_IS_BETTER
from fieldtune.tasks.table import TASKS

EVAL_RESULTS_FILE = "eval_results.json"

# Which metric ranks a board when the source does not say: the first of these that is present.
PRIMARY_METRIC_PREFERENCE = ("f1_macro", "accuracy", "rmse", "mae", "r2")

# Error metrics: smaller is better. fieldtune's own come from its targets table (rmse, mae, hamming_loss);
# the others are what other tools' cards report. Everything else (accuracy, f1, r2, mAP) is a score.
LOWER_IS_BETTER = SCORED_LOWER_IS_BETTER | {"mse", "mape", "loss", "eval_loss", "log_loss"}

Source = Literal["run", "hub", "benchmark"]


@dataclass
class Entry:
    """One model's scores on one (task, dataset, split).

    Args:
        model (`str`): What the user would type to get the model back: a run path or a Hub id.
        source (`str`): `"run"` (a run directory), `"hub"` (a model card's model-index) or `"benchmark"`
            (scores computed here on a benchmark spec).
        task (`str`): Task name, e.g. `text-classification`.
        dataset (`str`): Dataset name (builder name, Hub dataset type, or benchmark name).
        split (`str`): Split the scores were measured on.
        metrics (`dict[str, float]`): Flat metric name -> value; nested values (`per_class`) are dropped.
        primary_metric (`str`, *optional*): The metric this entry's source ranks by.
        greater_is_better (`bool`, defaults to `True`): Direction of `primary_metric`.
        base_model (`str`, *optional*): Backbone the model was fine-tuned from.
        method (`str`, *optional*): Fine-tuning method (`full`, `lora`, `freeze`, `probe`, ...).
        trainable_params (`int`, *optional*): Parameters updated by training.
        total_params (`int`, *optional*): All parameters of the model.
        train_samples_per_s (`float`, *optional*): Training throughput.
        revision (`str`, *optional*): Hub commit (or local fingerprint) the scores belong to.
        runtime (`str`, *optional*): How the scored model ran when not as a PyTorch model: `onnx fp32` or
            `onnx int8` (an exported folder, or `fieldtune evaluate EXPORTED --output`).
        intervals (`dict[str, list[float]]`): Metric -> bootstrap interval `[low, high]` (eval_results.json's
            `confidence_intervals`); empty when the source has none (model cards).
        num_examples (`int`, *optional*): How many test examples the scores are computed on.
        baseline (`str`, *optional*): What the baseline is, for runs of `fieldtune baseline`; `None` otherwise.
        ensemble (`str`, *optional*): For an ensemble run, what is mixed: `MODEL + BASELINE (w WEIGHT)`.
        predictions (`Path`, *optional*): The run's per-example `predictions.csv` (for the paired test).
        cv (`tuple`, *optional*): A cross-validation's `(mean, sd, folds)` of the primary metric on the held-out
            folds (eval_results.json's `cv`), shown beside the test figure.
    """

    model: str
    source: Source
    task: str
    dataset: str
    split: str
    metrics: dict[str, float] = field(default_factory=dict)
    primary_metric: str | None = None
    greater_is_better: bool = True
    base_model: str | None = None
    method: str | None = None
    trainable_params: int | None = None
    total_params: int | None = None
    train_samples_per_s: float | None = None
    revision: str | None = None
    runtime: str | None = None
    intervals: dict[str, list[float]] = field(default_factory=dict)
    num_examples: int | None = None
    baseline: str | None = None
    ensemble: str | None = None
    predictions: Path | None = None
    cv: tuple[float, float, int] | None = None


def _intervals(raw: Any) -> dict[str, list[float]]:
    metrics = raw.get("metrics") if isinstance(raw, dict) else None
    out = {}
    for name, pair in (metrics or {}).items():
        if isinstance(pair, list) and len(pair) == 2 and all(_number(v) is not None for v in pair):
            out[str(name)] = [float(pair[0]), float(pair[1])]
    return out


def metric_greater_is_better(name: str) -> bool:
    """Whether a larger value of metric `name` is better (`False` for error metrics like `rmse`)."""
    return name.lower() not in LOWER_IS_BETTER


def default_primary_metric(metrics: dict[str, float]) -> str | None:
    """The first of `PRIMARY_METRIC_PREFERENCE` present in `metrics`, else the first metric, else `None`."""
    return next((name for name in PRIMARY_METRIC_PREFERENCE if name in metrics), next(iter(metrics), None))


def _number(value: Any) -> float | None:
    # bool is an int subclass; `True` is not a score. NaN/inf cannot be ranked, so they count as missing.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _flat_metrics(raw: Any) -> dict[str, float]:
    if not isinstance(raw, dict):
        return {}
    out = {}
    for name, value in raw.items():
        number = _number(value)
        if number is not None:
            out[str(name)] = number
    return out


def _int_or_none(value: Any) -> int | None:
    number = _number(value)
    return int(number) if number is not None else None


def entry_from_results(
    results: dict[str, Any],
    *,
    source: Source,
    model: str | None = None,
    revision: str | None = None,
    task: str | None = None,
    dataset: str | None = None,
    split: str | None = None,
    primary_metric: str | None = None,
) -> Entry:
    """Build an `Entry` from a dict shaped like `eval_results.json`; keyword arguments override its fields.

    Args:
        results (`dict`): `{"task", "dataset", "split", "metrics", "primary_metric", "greater_is_better", ...}`.
        source (`str`): `"run"`, `"hub"` or `"benchmark"`.
        model, revision, task, dataset, split, primary_metric (`str`, *optional*): Take precedence over
            the values in `results` (a benchmark names its own dataset and primary metric).

    Returns:
        `Entry`. The direction comes from `results["greater_is_better"]` when it describes the chosen
        primary metric, else from the metric's name.
    """
    metrics = _flat_metrics(results.get("metrics"))
    declared = results.get("primary_metric")
    primary = primary_metric or declared or default_primary_metric(metrics)
    if primary == declared and isinstance(results.get("greater_is_better"), bool):
        greater = results["greater_is_better"]
    else:
        greater = metric_greater_is_better(primary) if primary else True
    speed = _number(results.get("train_samples_per_s"))
    return Entry(
        model=str(model or results.get("model") or "unknown"),
        source=source,
        task=str(task or results.get("task") or "unknown"),
        dataset=str(dataset or results.get("dataset") or "unknown"),
        split=str(split or results.get("split") or "test"),
        metrics=metrics,
        primary_metric=primary,
        greater_is_better=greater,
        base_model=results.get("base_model"),
        method=results.get("method"),
        trainable_params=_int_or_none(results.get("trainable_params")),
        total_params=_int_or_none(results.get("total_params")),
        train_samples_per_s=speed,
        revision=revision or results.get("revision"),
        runtime=runtime_of(results),
        intervals=_intervals(results.get("confidence_intervals")),
        num_examples=_int_or_none(results.get("num_test_examples")),
        baseline=baseline_of(results),
        ensemble=ensemble_of(results),
        cv=_cv_of(results.get("cv"), primary),
    )


def _cv_of(raw: Any, metric: str | None) -> tuple[float, float, int] | None:
    """`(mean, sd, folds)` of `metric` from eval_results.json's `cv` (a cross-validation's final model)."""
    stats = (raw.get("metrics") or {}).get(metric) if isinstance(raw, dict) else None
    if not isinstance(stats, dict) or _number(stats.get("mean")) is None:
        return None
    return float(stats["mean"]), float(_number(stats.get("sd")) or 0.0), int(raw.get("folds") or 0)


def entry_from_run(run_dir: Path) -> Entry:
    """Read a run directory's `eval_results.json` (an ONNX export folder's `export_report.json`) into an `Entry`.

    Args:
        run_dir (`Path`): A run directory, an exported folder (`runtime` says `onnx fp32` / `onnx int8`), or
            directly a JSON file shaped like `eval_results.json` (what `fieldtune evaluate --output` writes).

    Returns:
        `Entry` with `source="run"`; `model` is the results' `model` field, else the run path.

    Raises:
        `RunDirError`: the folder or file is missing, not JSON, or lacks `task` / `dataset` / `metrics`.
    """
    run_dir = Path(run_dir)
    path = run_dir if run_dir.is_file() else run_dir / EVAL_RESULTS_FILE
    if not run_dir.exists():
        raise RunDirError(f"Run directory {run_dir} does not exist; pass the folder `fieldtune train` wrote.")
    # an unfinished run's eval_results.json may be a dead run's, or an older one (the file: of its folder)
    RunDirectory(run_dir if run_dir.is_dir() else run_dir.parent).refuse_unfinished()
    export_report = run_dir / EXPORT_REPORT_FILE
    if not path.is_file() and export_report.is_file():  # `fieldtune export --format onnx --out DIR`
        path, results = export_report, export_results(run_dir, export_report)
    elif not path.is_file():
        raise RunDirError(
            f"{path} is missing; run `fieldtune evaluate {run_dir} --data DATA` first, or pass a finished run."
        )
    else:
        results = read_results_file(path, f"re-create it with `fieldtune evaluate {run_dir} --data DATA`")
    missing = [key for key in ("task", "dataset", "metrics") if results.get(key) is None]
    if missing:
        raise RunDirError(
            f"{path} lacks {', '.join(missing)}; re-create it with `fieldtune evaluate {run_dir} --data DATA`."
        )
    # A run evaluated in place has no model name of its own; the path is what the user passed.
    entry = entry_from_results(results, source="run", model=results.get("model") or str(run_dir))
    predictions = run_dir / "predictions.csv" if run_dir.is_dir() else None
    entry.predictions = predictions if predictions is not None and predictions.is_file() else None
    return entry


def entries_from_card(repo_id: str, card_text: str, revision: str | None = None) -> list[Entry]:
    """Read the `model-index` results of a model card into entries, one per (task, dataset, split).

    Args:
        repo_id (`str`): Hub id of the model, used as the entries' `model`.
        card_text (`str`): The README.md text (YAML front matter + body).
        revision (`str`, *optional*): Commit the card was read at.

    Returns:
        `list[Entry]` with `source="hub"`, in the card's order; empty when the card has no results.
        The dataset is the model-index `dataset.type` (the identifier), else its `name`; a missing split
        reads `unspecified` so it never silently joins the `test` board.

    Raises:
        `HubError`: the card's YAML or model-index cannot be parsed.
    """
    try:  # huggingface_hub raises ValueError, yaml errors, TypeError... all mean "bad card"
        card = ModelCard(card_text)
    except Exception as err:
        raise HubError(
            f"Model card of {repo_id} cannot be parsed ({err}); fix its YAML model-index."
        ) from err
    base_model = card.data.get("base_model")
    if isinstance(base_model, list):  # the card spec allows several; the first is the backbone
        base_model = base_model[0] if base_model else None
    kinds = kinds_of_card(card.data, base_model)
    cv = (card.data.get("fieldtune") or {}).get("cv")  # a cross-validation's folds, as eval_results.json has
    groups: dict[tuple[str, str, str], dict[str, float]] = {}
    for result in card.data.eval_results or []:
        # fieldtune's cards name the task in `task.name` (text-multilabel's type is text-classification):
        # with it, a pushed run joins the board of its run directory, not the single-label one.
        task_name = result.task_name if result.task_name in TASKS else result.task_type
        key = (
            str(task_name),
            str(result.dataset_type or result.dataset_name),
            str(result.dataset_split or "unspecified"),
        )
        metrics = groups.setdefault(key, {})
        value = _number(result.metric_value)
        if value is not None and result.metric_type:
            metrics.setdefault(str(result.metric_type), value)
    entries = []
    for (task, dataset, split), metrics in groups.items():
        primary = default_primary_metric(metrics)
        entries.append(
            Entry(
                model=repo_id,
                source="hub",
                task=task,
                dataset=dataset,
                split=split,
                metrics=metrics,
                primary_metric=primary,
                greater_is_better=metric_greater_is_better(primary) if primary else True,
                base_model=base_model,
                revision=revision,
                cv=_cv_of(cv, primary),
                **kinds,
            )
        )
    return entries


def _with_eval_results(entries: list[Entry], repo_id: str, commit: str | None) -> list[Entry]:
    """Add the repo's `.eval_results/*.yaml` values (metric = the entry's `task_id`): a dataset the
    model-index already has gains the metrics its card lacks (the card's value wins); another dataset
    becomes one entry of its own, split `unspecified` as for a card that names none."""
    from fieldtune.hub.eval_results import fetch_eval_results

    by_dataset = {entry.dataset: entry for entry in entries}
    for result in fetch_eval_results(repo_id, commit):
        value = _number(result.value)
        if value is None:
            continue
        if result.dataset_id not in by_dataset:
            by_dataset[result.dataset_id] = Entry(
                model=repo_id, source="hub", task="unspecified", dataset=result.dataset_id,
                split="unspecified", revision=commit,
            )  # fmt: skip
            entries.append(by_dataset[result.dataset_id])
        by_dataset[result.dataset_id].metrics.setdefault(result.task_id, value)
    for entry in entries:
        if entry.primary_metric is None and entry.metrics:
            entry.primary_metric = default_primary_metric(entry.metrics)
            entry.greater_is_better = metric_greater_is_better(entry.primary_metric or "")
    return entries


def _commit_from_cache_path(path: Path) -> str | None:
    # hf_hub_download returns .../snapshots/<commit sha>/README.md: the resolved revision for free.
    if path.parent.parent.name == "snapshots" and re.fullmatch(r"[0-9a-f]{40}", path.parent.name):
        return path.parent.name
    return None


def entries_from_hub(repo_id: str, revision: str | None = None) -> list[Entry]:
    """Download a Hub model's README.md and read its `model-index` results.

    Args:
        repo_id (`str`): Hub model id, e.g. `org/bert-cargo`. `HF_ENDPOINT` selects a self-hosted Hub.
        revision (`str`, *optional*): Branch, tag or commit; defaults to the main branch.

    Returns `list[Entry]` (see `entries_from_card`), with `revision` set to the commit actually read. Raises
    `HubError`: the repo, revision or card is missing, access is denied, the Hub is unreachable (asked once,
    not retried per file), or the card has no model-index results.
    """
    where = f"{repo_id}@{revision}" if revision else repo_id
    why = unreachable_uncached(repo_id, "README.md", revision)
    if why is not None:
        raise HubError(f"Cannot reach the Hub {constants.ENDPOINT} ({why}); {where} is not cached.")
    try:
        path = Path(hf_hub_download(repo_id, "README.md", revision=revision, repo_type="model"))
    except GatedRepoError as err:
        raise HubError(
            f"{where} is gated; accept its terms on the Hub and log in with `hf auth login`."
        ) from err
    except RepositoryNotFoundError as err:
        raise HubError(
            f"Hub model {repo_id} not found (or private); check the id, or log in with `hf auth login`."
        ) from err
    except RevisionNotFoundError as err:
        raise HubError(
            f"Revision {revision!r} of {repo_id} not found; pass an existing branch, tag or commit."
        ) from err
    except (LocalEntryNotFoundError, OfflineModeIsEnabled) as err:
        # LocalEntryNotFoundError subclasses EntryNotFoundError: catch it first, it means "no network".
        raise HubError(
            f"{where} is not in the local cache and the Hub is not asked (offline); go online or unset HF_HUB_OFFLINE."
        ) from err
    except EntryNotFoundError as err:
        raise HubError(f"{where} has no README.md model card; it cannot be ranked without one.") from err
    except (HfHubHTTPError, OSError, ValueError) as err:
        raise HubError(
            f"Cannot download the model card of {where} ({err}); check the id and HF_ENDPOINT."
        ) from err
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise HubError(
            f"Model card of {where} cannot be read ({err}); delete it from the HF cache and retry."
        ) from err
    commit = _commit_from_cache_path(path) or revision
    entries = _with_eval_results(entries_from_card(repo_id, text, revision=commit), repo_id, commit)
    if not entries:
        raise HubError(
            f"Model card of {where} has no model-index results; rank it with `--benchmark SPEC.yaml` instead."
        )
    return entries
