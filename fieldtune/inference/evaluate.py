"""Evaluating any model (run, model folder, Hub id; fieldtune-made or not) on a dataset split."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from datasets import ClassLabel

from fieldtune import __version__
from fieldtune.config import DataConfig, data_config_from_dict
from fieldtune.datasets_builders import build_dataset, dataset_name
from fieldtune.errors import DataError
from fieldtune.evaluation.confidence import run_intervals
from fieldtune.inference.load import (
    Loaded,
    check_text_coverage,
    load_for_inference,
    predict_logits,
    split_batches,
    thresholds_of,
)
from fieldtune.modeling.create import count_params
from fieldtune.rundir.layout import CV_RESULTS
from fieldtune.tasks.scoring import label_names_of


def looks_like_hub_id(value: str) -> bool:
    """`namespace/name`: a Hub dataset id, not a relative file path."""
    from fieldtune.datasets_builders.tables import TABLE_SUFFIXES

    return value.count("/") == 1 and Path(value).suffix.lower() not in TABLE_SUFFIXES


def data_config_for(
    loaded: Loaded, ref: str, data: str | None, overrides: dict[str, Any] | None = None
) -> DataConfig:
    """The run's own data section when there is one (same columns and seed), with `data` as the path."""
    from fieldtune.rundir.reader import RunDirectory

    run = RunDirectory.at(ref)
    base = run.data_section if run is not None else {"builder": loaded.task.inputs.default_builder}
    recorded = base.get("path")
    lost = isinstance(recorded, str) and not Path(recorded).expanduser().exists()
    if data is None and lost and not Path(recorded).is_absolute() and not looks_like_hub_id(recorded):
        raise DataError(
            f"{ref}: its data {recorded} is relative to the folder the run was trained in (runs made "
            "before paths were recorded absolute); run evaluate from there or pass --data PATH."
        )
    if data is not None:
        base["path"] = data
        # New data is scored as it is: its own split files, else all of it (never a re-split of it)
        base["validation_size"], base["test_size"] = 0.0, 0.0
    base.update(overrides or {})
    return data_config_from_dict(base)


def split_entries(folder: Path) -> dict[str, Path]:
    """A folder's split files / sub-folders (`train.csv`, `test/`, `val.jsonl`) by split name."""
    from fieldtune.datasets_builders.image_folder import SPLIT_NAMES
    from fieldtune.datasets_builders.tables import SPLIT_ALIASES, TABLE_SUFFIXES

    entries: dict[str, Path] = {}
    if not folder.is_dir():
        return entries
    for f in sorted(folder.iterdir()):
        if f.is_file() and f.suffix.lower() in TABLE_SUFFIXES and f.stem.lower() in SPLIT_ALIASES:
            entries.setdefault(SPLIT_ALIASES[f.stem.lower()], f)
        elif f.is_dir() and f.name.lower() in SPLIT_NAMES:
            entries.setdefault(SPLIT_NAMES[f.name.lower()], f)
    return entries


def evaluation_data(data: str, split: str) -> tuple[str, bool]:
    """(what to build, whether to score all of it). A folder with split files but no train one -> the
    requested split's entry (evaluation needs no training data; the builders, made for training, demand it);
    data with no split files of its own -> all of it."""
    entries = split_entries(Path(data).expanduser())
    if not entries:
        return data, True
    if "train" in entries or split == "all":
        return data, False
    if split not in entries:
        raise DataError(
            f"{data} has no {split!r} split (it has {', '.join(sorted(entries))}); pass --split with one of them."
        )
    return str(entries[split]), True


def split_of(dd: Any, split: str, source: str, whole: bool = False) -> Any:
    """`split` of `dd`; with `whole` (data with no split of its own), every example."""
    if split == "all" or (whole and set(dd) == {"train"}):
        if split not in ("all", "test"):  # `test` (the default): new data scored whole is the held-out set
            raise DataError(
                f"{source} has no {split!r} split: it has no split files or folders of its own (train, "
                "validation, test), so all its rows are scored together; leave --split out or pass --split all."
            )
        from datasets import concatenate_datasets

        return concatenate_datasets([dd[s] for s in dd])
    if split not in dd:
        raise DataError(
            f"{source} has no {split!r} split (it has {', '.join(dd)}); pass --split with one of them or all."
        )
    return dd[split]


def model_label_ids(loaded: Loaded, ds: Any, source: str) -> np.ndarray:
    """Map the data's label names onto the model's label ids (they may be ordered differently)."""
    data_names = label_names_of(ds.features["label"]) or []
    index = {n: i for i, n in enumerate(loaded.label_names or [])}
    tags = not isinstance(ds.features["label"], ClassLabel)  # a Sequence of them: a label set per row
    rows = [ids if tags else [ids] for ids in ds["label"]]
    unknown = sorted({data_names[i] for ids in rows for i in ids} - set(index))
    if unknown:
        raise DataError(
            f"{source}: labels {', '.join(unknown[:5])} are not classes of the model ({', '.join((loaded.label_names or [])[:10])})."
        )
    mapped = [[index[data_names[i]] for i in ids] for ids in rows]
    if tags:
        return loaded.task.targets.references(mapped, len(index))
    return np.asarray([ids[0] for ids in mapped])


def model_references(loaded: Loaded, ds: Any, source: str) -> np.ndarray:
    """The split's labels as the model's outputs are scored against: named labels as the model's ids, numbers
    as they are."""
    if loaded.task.targets.named:
        return model_label_ids(loaded, ds, source)
    return np.asarray(ds["label"], dtype=float)


def _refuse_seen_rows(run_dir: Path, split: str, data: str | None) -> None:
    """A CV's folds (and its refit) trained on every train and validation row of its data: scoring those rows
    would report training figures as held-out ones."""
    if split == "test" or data is not None or not (run_dir / CV_RESULTS).is_file():
        return
    raise DataError(
        f"--split {split}: {run_dir} is a cross-validation whose models trained on its train and "
        f"validation rows, so it has no held-out {split} split; its out-of-fold figures are in cv_results.json "
        "and oof_predictions.csv (evaluate --split test, or --data NEW_DATA)."
    )


def evaluate_model(
    ref: str,
    data: str | None,
    split: str = "test",
    revision: str | None = None,
    loaded: Loaded | None = None,
    data_overrides: dict | None = None,
    test_time: str | None = None,
) -> dict:
    """Metrics of `ref` on `split` of `data`, shaped like a run's eval_results.json.

    `test_time` (images) overrides the views the model was evaluated with in training.
    """
    from fieldtune.rundir.reader import RunDirectory

    run = RunDirectory.at(ref)
    if run is not None:  # an unfinished run, or a damaged config.yaml, is named before the model loads
        run.refuse_unfinished().check()
        _refuse_seen_rows(run.path, split, data)
    whole = False
    if data is not None:
        data, whole = evaluation_data(data, split)
    loaded = loaded or load_for_inference(ref, revision, test_time)
    data_cfg = data_config_for(loaded, ref, data, data_overrides)
    dd = build_dataset(data_cfg, loaded.task.name)
    ds = split_of(dd, split, data_cfg.path or data_cfg.builder, whole=whole)
    refs = model_references(loaded, ds, data_cfg.path or data_cfg.builder)
    if loaded.task.inputs.tokens:
        check_text_coverage(loaded, ds["text"])
    logits = predict_logits(loaded, split_batches(loaded, ds))
    targets = loaded.task.targets
    metrics, columns = targets.evaluate(logits, refs, loaded.label_names, thresholds_of(loaded))
    label_text = targets.label_text(refs, loaded.label_names)
    intervals = run_intervals(targets, label_text, columns, loaded.label_names)
    trainable, total = count_params(loaded.model)
    onnx = (
        {"runtime": "onnxruntime", "quantize": loaded.model.quantize}
        if hasattr(loaded.model, "session")
        else {}
    )
    total = total or getattr(loaded.model, "total_params", 0)  # an ORT session has no torch parameters
    return {
        "task": loaded.task.name,
        "dataset": dataset_name(data_cfg),
        "split": split,
        "metrics": metrics,
        "primary_metric": loaded.task.primary_metric,
        "greater_is_better": loaded.task.greater_is_better,
        "model": ref,
        "revision": loaded.revision,
        "num_test_examples": len(refs),
        "confidence_intervals": intervals,
        **({"test_time": loaded.test_time} if loaded.task.inputs.test_time_views else {}),
        "total_params": total,
        **onnx,
        **_ensemble_entry(loaded),
        "fieldtune_version": __version__,
    }


def _ensemble_entry(loaded: Loaded) -> dict:
    """Scores of an ensemble say so, as the run's eval_results.json does (the leaderboard marks the row)."""
    from fieldtune.baselines.ensemble import EnsembleModel

    if not isinstance(loaded.model, EnsembleModel):
        return {}
    meta = loaded.model.baseline.meta
    return {"ensemble": {"baseline_weight": loaded.model.weight, "baseline_model": meta.get("model")}}
