"""What a user reads: one line per event they care about, library chatter only with --debug (issue 33,
item 6). The CLI runs in a subprocess, as a user's shell runs it, so its own logging setup is what counts."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from fieldtune.trainers.progress_callback import describe_log

REPO = Path(__file__).resolve().parents[1]
LONG_NUMBER = re.compile(r"\d\.\d{6,}")  # 0.39117471675611215


def test_trainer_log_dicts_become_one_readable_line():
    evaluation = {"eval_loss": 1.0862, "eval_accuracy": 0.35, "eval_f1_macro": 0.266123456789,
                  "eval_runtime": 0.207, "eval_samples_per_second": 96.61, "eval_steps_per_second": 4.83,
                  "epoch": 1.0}  # fmt: skip
    assert describe_log(evaluation) == "Validation at epoch 1: loss 1.0862, accuracy 0.3500, f1_macro 0.2661"
    training = {"loss": 1.0904, "grad_norm": 0.5465, "learning_rate": 0.00075, "epoch": 1.1111}
    assert describe_log(training) == "Training loss at epoch 1.11: 1.0904 (learning rate 7.50e-04)"
    summary = {"train_runtime": 2.7, "train_samples_per_second": 51.25, "train_loss": 1.09, "epoch": 1.0}
    assert describe_log(summary) is None  # the run's summary reports throughput in its own words


def _cli(*argv: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    return subprocess.run(
        [sys.executable, "-m", "fieldtune", *argv], capture_output=True, text=True, env=env, cwd=cwd
    )


@pytest.fixture(scope="module")
def lora_train(tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("noise")
    recipe = root / "tiny_lora.yaml"
    recipe.write_text(
        f"task: text-classification\nmodel: {{name_or_path: {tiny_bert}, max_length: 48}}\n"
        "data: {builder: logistics_demand, num_samples: 80}\nmethod: {name: lora, lora_r: 4}\n"
        "training: {num_train_epochs: 2, per_device_train_batch_size: 16, logging_steps: 3}\n"
    )
    proc = _cli("train", str(recipe), "--output-dir", str(root / "run"), cwd=root)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return root / "run", proc.stdout + proc.stderr


@pytest.mark.slow
def test_training_output_has_no_raw_dicts_library_warnings_or_long_numbers(lora_train):
    _, out = lora_train
    assert "{'" not in out  # Trainer's raw log dicts
    assert "Could not find a config file" not in out and "UserWarning" not in out  # peft, on every LoRA save
    assert not LONG_NUMBER.search(out), LONG_NUMBER.findall(out)
    assert len([line for line in out.splitlines() if "Validation at epoch" in line]) == 2
    assert "Training loss at epoch" in out
    assert not [
        line for line in out.splitlines() if line.startswith(("INFO", "DEBUG")) and " fieldtune" not in line
    ]


@pytest.mark.slow
def test_onnx_export_prints_its_result_only(lora_train, tmp_path):
    run_dir, _ = lora_train
    proc = _cli("export", str(run_dir), "--format", "onnx", "--out", str(tmp_path / "onnx"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout + proc.stderr
    assert "onnx_ir" not in out and "onnxscript" not in out and "onnxruntime" not in out  # 107-172 INFO lines
    assert "torchvision" not in out
    assert not LONG_NUMBER.search(out), out
    assert re.search(r"test f1_macro fp32: \d\.\d{4}$", proc.stdout, re.M), proc.stdout
    assert len(out.splitlines()) <= 8, out  # the result, and the progress of the two parity predictions
