"""Shared fixtures for the leaderboard tests: run directories written into tmp_path."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest


def eval_results(
    model: str,
    f1: float | None = 0.8,
    accuracy: float = 0.85,
    trainable: int = 1000,
    task: str = "text-classification",
    dataset: str = "logistics_demand",
    **overrides: Any,
) -> dict[str, Any]:
    """A classification `eval_results.json` payload shaped like the run directory contract."""
    metrics: dict[str, Any] = {
        "accuracy": accuracy,
        "precision_macro": 0.8,
        "recall_macro": 0.79,
        "per_class": {"low": {"precision": 0.9, "recall": 0.8, "f1": 0.85, "support": 12}},
    }
    if f1 is not None:
        metrics["f1_macro"] = f1
    results = {
        "task": task,
        "dataset": dataset,
        "split": "test",
        "metrics": metrics,
        "primary_metric": "f1_macro",
        "greater_is_better": True,
        "model": model,
        "base_model": "sentence-transformers/all-MiniLM-L6-v2",
        "method": "lora",
        "trainable_params": trainable,
        "total_params": 22_000_000,
        "train_runtime_s": 60.1,
        "train_samples_per_s": 85.2,
        "precision": "bf16",
        "fieldtune_version": "0.1.0",
    }
    results.update(overrides)
    return results


def regression_results(model: str, rmse: float, trainable: int = 1000) -> dict[str, Any]:
    return eval_results(
        model,
        task="text-regression",
        metrics={"mae": rmse * 0.8, "rmse": rmse, "r2": 1 - rmse / 10},
        primary_metric="rmse",
        greater_is_better=False,
        trainable_params=trainable,
        method="full",
    )


@pytest.fixture
def write_run(tmp_path: Path) -> Callable[..., Path]:
    """`write_run(name, results_dict)` -> a run directory under tmp_path holding eval_results.json."""

    def write(name: str, results: dict[str, Any]) -> Path:
        run_dir = tmp_path / "runs" / name
        run_dir.mkdir(parents=True)
        (run_dir / "eval_results.json").write_text(json.dumps(results), encoding="utf-8")
        return run_dir

    return write
