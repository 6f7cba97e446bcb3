"""GPU correctness a CPU can check: device placement left to accelerate, pinned memory and workers only
with a GPU, bf16 only where the GPU has it, fp16 (with the Trainer's gradient scaler) as the fallback."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from fieldtune.config import TrainingConfig
from fieldtune.errors import ConfigError
from fieldtune.modeling.precision import resolve_precision
from fieldtune.tasks.table import get_task
from fieldtune.trainers.arguments import auto_dataloader_workers, build_training_args

PACKAGE = Path(__file__).resolve().parents[1] / "fieldtune"
# a device named in code: `.cuda()`, `.to("cuda")`, `device="cuda:0"`, `torch.device("cuda")`
DEVICE_IN_CODE = re.compile(
    r"""\.cuda\(|\.to\(\s*["']cuda|device\s*=\s*["']cuda|torch\.device\(\s*["']cuda"""
)


def fake_gpu(monkeypatch: pytest.MonkeyPatch, bf16: bool) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a, **k: "Tesla T4")


def test_no_module_places_tensors_on_a_device_itself():
    hits = [f"{p.relative_to(PACKAGE)}:{i}" for p in PACKAGE.rglob("*.py")
            for i, line in enumerate(p.read_text().splitlines(), 1) if DEVICE_IN_CODE.search(line)]  # fmt: skip
    assert not hits, f"device placement outside accelerate: {hits}"


def test_auto_precision_on_a_gpu_without_bf16_is_fp16(monkeypatch):
    fake_gpu(monkeypatch, bf16=False)
    assert resolve_precision("auto") == "fp16"
    assert resolve_precision("fp16") == "fp16"
    with pytest.raises(ConfigError, match="Tesla T4.*no bf16.*fp16"):
        resolve_precision("bf16")
    assert resolve_precision("fp32") == "fp32"


def test_auto_precision_on_a_gpu_with_bf16_is_bf16(monkeypatch):
    fake_gpu(monkeypatch, bf16=True)
    assert resolve_precision("auto") == "bf16"
    assert resolve_precision("bf16") == "bf16"


def test_fp16_is_refused_on_a_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="needs a CUDA GPU"):
        resolve_precision("fp16")


def test_workers_and_pinned_memory_only_with_a_gpu(monkeypatch, tmp_path):
    task = get_task("text-classification")
    cpu = build_training_args(TrainingConfig(), tmp_path, task, False, "fp32", use_cpu=True)
    assert cpu.dataloader_num_workers == 0 and cpu.dataloader_pin_memory is False
    fake_gpu(monkeypatch, bf16=True)
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(8)), raising=False)
    assert auto_dataloader_workers(use_cpu=False) == 4
    assert auto_dataloader_workers(use_cpu=True) == 0  # a CPU run on a GPU machine (CUDA_VISIBLE_DEVICES="")
