"""Evaluating any model (run, model folder, Hub id; fieldtune-made or not) on a dataset split."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from fieldtune import __version__
from fieldtune.config import DataConfig, config_from_dict
from fieldtune.datasets_builders import build_dataset
from fieldtune.errors import DataError
from fieldtune.inference import Loaded, load_for_inference, predict_logits, text_batches
from fieldtune.models import count_params
from fieldtune.results import dataset_name, score_predictions


def data_config_for(
    loaded: Loaded, ref: str, data: str | None, overrides: dict[str, Any] | None = None
) -> DataConfig:
    """The run's own data section when there is one (same columns and seed), with `data` as the path."""
    from fieldtune.artifacts import read_run_config

    run_config = read_run_config(Path(ref))
    if run_config is not None:
        base = dict(run_config.get("data") or {})
    else:
        base = {"builder": "image_folder" if loaded.task.modality == "image" else "text_table"}
    if data is not None:
        base["path"] = data
    base.update(overrides or {})
    cfg = config_from_dict({"task": loaded.task.name, "model": {"name_or_path": "x"}, "data": base})
    return cfg.data


def split_of(dd: Any, split: str, source: str) -> Any:
    if split == "all":
        from datasets import concatenate_datasets

        return concatenate_datasets([dd[s] for s in dd])
    if split not in dd:
        raise DataError(
            f"{source} has no {split!r} split (it has {', '.join(dd)}); pass --split with one of them or all."
        )
    return dd[split]


def model_label_ids(loaded: Loaded, ds: Any, source: str) -> np.ndarray:
    """Map the data's label names onto the model's label ids (they may be ordered differently)."""
    data_names = ds.features["label"].names
    index = {n: i for i, n in enumerate(loaded.label_names or [])}
    unknown = sorted({data_names[i] for i in set(ds["label"])} - set(index))
    if unknown:
        raise DataError(
            f"{source}: labels {', '.join(unknown[:5])} are not classes of the model ({', '.join((loaded.label_names or [])[:10])})."
        )
    return np.asarray([index[data_names[i]] for i in ds["label"]])


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
    loaded = loaded or load_for_inference(ref, revision, test_time)
    data_cfg = data_config_for(loaded, ref, data, data_overrides)
    dd = build_dataset(data_cfg, loaded.task.name)
    ds = split_of(dd, split, data_cfg.path or data_cfg.builder)
    if loaded.task.is_classification:
        refs = model_label_ids(loaded, ds, data_cfg.path or data_cfg.builder)
    else:
        refs = np.asarray(ds["label"], dtype=float)
    if loaded.task.modality == "text":
        logits = predict_logits(loaded, text_batches(loaded, ds["text"]))
    else:
        from fieldtune.preparation_images import image_batches

        logits = predict_logits(loaded, image_batches(loaded, ds))
    metrics, _ = score_predictions(loaded.task, logits, refs, loaded.label_names)
    trainable, total = count_params(loaded.model)
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
        **({"test_time": loaded.test_time} if loaded.task.modality == "image" else {}),
        "total_params": total,
        "fieldtune_version": __version__,
    }
