"""Tracking: `training.report_to: mlflow` / `wandb` get params, per-step metrics, the test metrics and the
run's config.yaml and eval_results.json; TensorBoard is still written into the run directory."""

from __future__ import annotations

import collections
import json
import struct
from pathlib import Path

import pytest
import yaml

from fieldtune.config import config_from_dict
from fieldtune.training.run import run

pytestmark = pytest.mark.slow


def _config(model_dir, report_to):  # learning_rate: fieldtune's default, 5e-5
    return config_from_dict(
        {
            "task": "text-classification",
            "name": "tracked",
            "model": {"name_or_path": str(model_dir), "max_length": 32},
            "data": {"builder": "logistics_demand", "num_samples": 80, "seed": 0},
            "training": {
                "num_train_epochs": 2,
                "per_device_train_batch_size": 8,
                "logging_steps": 2,
                "report_to": report_to,
            },
        }
    )


def test_mlflow_file_store_gets_params_step_metrics_test_metrics_and_artifacts(
    tiny_bert, tmp_path, monkeypatch
):
    mlflow = pytest.importorskip("mlflow")
    store = tmp_path / "mlruns"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store.as_uri())
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "fieldtune-tests")
    result = run(_config(tiny_bert, "mlflow"), output_dir=tmp_path / "run")

    client = mlflow.tracking.MlflowClient(tracking_uri=store.as_uri())
    experiment = client.get_experiment_by_name("fieldtune-tests")
    (tracked,) = client.search_runs([experiment.experiment_id])
    assert tracked.info.status == "FINISHED" and tracked.info.run_name == "tracked"
    assert float(tracked.data.params["learning_rate"]) == pytest.approx(5e-5)  # TrainingArguments
    losses = client.get_metric_history(tracked.info.run_id, "loss")
    assert len(losses) >= 3 and len({m.step for m in losses}) == len(losses)  # one point per logging step
    assert client.get_metric_history(tracked.info.run_id, "eval_accuracy")
    test_accuracy = result.results["metrics"]["accuracy"]
    assert tracked.data.metrics["test_accuracy"] == pytest.approx(test_accuracy)

    names = {a.path for a in client.list_artifacts(tracked.info.run_id)}
    assert {"config.yaml", "eval_results.json"} <= names
    local = Path(client.download_artifacts(tracked.info.run_id, "eval_results.json", str(tmp_path / "dl")))
    assert json.loads(local.read_text()) == json.loads((result.run_dir / "eval_results.json").read_text())
    config = yaml.safe_load(
        Path(client.download_artifacts(tracked.info.run_id, "config.yaml", str(tmp_path))).read_text()
    )
    assert config["training"]["report_to"] == "mlflow"
    assert list((result.run_dir / "logs").glob("events.out.tfevents.*"))  # TensorBoard still written


def _offline_records(path):
    """The records of an offline W&B run file (`run-*.wandb`): a LevelDB-style log of protobuf `Record`s
    (32 KiB blocks of chunks with a 7-byte header) after a 7-byte W&B header; wandb 0.31 has no reader."""
    from wandb.proto import wandb_internal_pb2

    data, pos, block, pending = path.read_bytes(), 7, 32768, b""
    assert data[:4] == b":W&B"
    while pos + 7 <= len(data):
        left = block - pos % block
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7]) if left >= 7 else (0, 0, 0)
        if left < 7 or (length == 0 and kind == 0):  # block trailer / padding
            pos += left
            continue
        pending += data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # a full record, or the last chunk of one
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            pending = b""
            yield record


def _items(items):
    return {item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in items}


def test_wandb_offline_run_gets_params_step_metrics_test_metrics_and_files(tiny_bert, tmp_path, monkeypatch):
    wandb = pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")  # no account, no network
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_PROJECT", "fieldtune-tests")
    result = run(_config(tiny_bert, ["wandb", "tensorboard"]), output_dir=tmp_path / "run")
    # The .wandb file is written by W&B's service process, not this one: read it once that process has
    # exited (teardown joins it, so every record is on disk), never after a guessed delay. Reading it as
    # soon as `finish()` returned saw 0 logged steps on a loaded machine.
    wandb.teardown()

    (offline,) = (tmp_path / "wandb").glob("offline-run-*")
    records = list(_offline_records(next(offline.glob("run-*.wandb"))))
    kinds = collections.Counter(r.WhichOneof("record_type") for r in records)
    assert kinds["exit"] == 1, kinds  # the whole run is in the file, up to its exit record
    history = [_items(r.history.item) for r in records if r.WhichOneof("record_type") == "history"]
    steps = [h["train/global_step"] for h in history if "train/loss" in h]
    assert len(steps) >= 3 and steps == sorted(set(steps)), (steps, kinds)  # one point per logging step
    assert any("eval/accuracy" in h for h in history)
    summary = {}
    for r in records:
        if r.WhichOneof("record_type") == "summary":
            summary.update(_items(r.summary.update))
    assert summary["test_accuracy"] == pytest.approx(result.results["metrics"]["accuracy"])
    config = {}
    for r in records:
        if r.WhichOneof("record_type") == "config":
            config.update(_items(r.config.update))
    assert config["learning_rate"] == pytest.approx(5e-5)  # TrainingArguments, through WandbCallback
    assert config["fieldtune"]["model"]["name_or_path"] == str(tiny_bert)  # fieldtune's own config
    assert any(r.WhichOneof("record_type") == "artifact" for r in records)

    files = offline / "files" / "run"  # the run folder's name
    saved = json.loads((files / "eval_results.json").read_text())
    assert saved == json.loads((result.run_dir / "eval_results.json").read_text())
    assert yaml.safe_load((files / "config.yaml").read_text())["name"] == "tracked"
    # `tensorboard` in report_to adds no second writer: one events file in logs/, none elsewhere
    assert len(list((result.run_dir / "logs").glob("events.out.tfevents.*"))) == 1
    assert not list(result.run_dir.rglob("runs/**/events.out.tfevents.*"))
