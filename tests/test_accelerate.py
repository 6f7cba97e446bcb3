"""Multi-process training through `accelerate launch`, on a CPU-only machine: 2 processes, DDP over gloo.

Without a GPU, `accelerate launch --multi_gpu --num_processes 2 --num_machines 1` (what `fieldtune train
--num-processes 2` runs, and what `configs/accelerate/cpu_2proc.yaml` / `accelerate_config.yaml` say) starts
2 processes through torchrun, and the Trainer (`use_cpu=True`) trains with gloo. `--cpu` / MULTI_CPU would
start ONE process, so every test here asserts the world size (recorded in eval_results.json).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from fieldtune.errors import ConfigError
from fieldtune.training.launch import LAUNCHER_MODULE, launch_command

REPO = Path(__file__).resolve().parents[1]
PRESETS = REPO / "configs" / "accelerate"
NUM_SAMPLES, TEST_ROWS = 184, 37  # splits: train 128, validation 19, test 37 (both builders)
LAUNCH_TIMEOUT_S = 300  # a rank waiting on a collective that never comes fails the test instead of hanging it
cpu_only = pytest.mark.skipif(
    torch.cuda.is_available(), reason="the single-process reference would run on the GPU"
)


# --------------------------------------------------------------------------- the launch command (no launch)


def train_args(**kw) -> argparse.Namespace:
    base = {"config": "recipe.yaml", "overrides": [], "num_processes": 2, "accelerate_config": None,
            "output_dir": None, "overwrite": False, "resume": False, "debug": False}  # fmt: skip
    return argparse.Namespace(**{**base, **kw})


def test_launcher_is_the_accelerate_module():
    import importlib

    assert callable(importlib.import_module(LAUNCHER_MODULE).main)  # `python -m accelerate.commands.launch`


def test_command_without_gpu_uses_multi_gpu_flag_and_forwards_the_run():
    args = train_args(
        overrides=["--training.seed=3", "--data.path", "x.csv"], output_dir="out", overwrite=True, debug=True
    )
    cmd = launch_command(args, cuda_devices=0)
    assert cmd[:3] == [sys.executable, "-m", LAUNCHER_MODULE]
    flags = cmd[3 : cmd.index("fieldtune") - 1]
    assert flags[:6] == ["--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision"]
    assert "--cpu" not in flags  # --cpu would run ONE process
    assert "--num_cpu_threads_per_process" in flags
    assert cmd[cmd.index("fieldtune") - 1 :] == ["-m", "fieldtune", "--debug", "train", "recipe.yaml",
        "--training.seed=3", "--data.path", "x.csv", "--output-dir", "out", "--overwrite"]  # fmt: skip
    assert "--num-processes" not in cmd and "--accelerate-config" not in cmd


def test_command_for_several_machines_counts_processes_over_all_of_them():
    args = train_args(num_processes=4, num_machines=2, machine_rank=1, main_process_ip="10.0.0.1",
                      main_process_port=29600)  # fmt: skip
    flags = launch_command(args, cuda_devices=4)
    flags = flags[3 : flags.index("fieldtune") - 1]
    assert flags[:3] == ["--multi_gpu", "--num_processes", "8"]  # accelerate counts all machines
    assert {
        "--num_machines=2",
        "--machine_rank=1",
        "--main_process_ip=10.0.0.1",
        "--main_process_port=29600",
    } <= set(flags)
    assert "--num_machines" not in flags and "0" not in flags  # not the one-machine defaults
    one_each = launch_command(train_args(num_processes=None, num_machines=2, machine_rank=0,
                                         main_process_ip="h", main_process_port=29500), cuda_devices=0)  # fmt: skip
    assert one_each[3:6] == ["--multi_gpu", "--num_processes", "2"]


@pytest.mark.parametrize(
    "kw, message",
    [({"num_machines": 1, "machine_rank": 0, "main_process_ip": "h"}, "2 or more machines"),
     ({"num_machines": 2, "machine_rank": 2, "main_process_ip": "h"}, "0 to 1"),
     ({"num_machines": 2, "machine_rank": None, "main_process_ip": "h"}, "--machine-rank"),
     ({"num_machines": 2, "machine_rank": 0, "main_process_ip": None}, "--main-process-ip"),
     ({"num_machines": 2, "machine_rank": 0, "main_process_ip": "h", "main_process_port": 0}, "free port")],
)  # fmt: skip
def test_machine_flags_are_checked_before_launching(kw, message):
    with pytest.raises(ConfigError, match=message):
        launch_command(train_args(**{"main_process_port": 29500, **kw}), cuda_devices=0)


@pytest.mark.parametrize(
    "settings, message",
    [("num_machines: 0\n", "num_machines 0; give 1 or more"),
     ("num_machines: 2\nmachine_rank: 3\n", "machine_rank 3; give 0 to 1"),
     ("num_machines: 2\nmachine_rank: -1\n", "machine_rank -1")],
)  # fmt: skip
def test_machine_settings_of_an_accelerate_config_are_checked(tmp_path, settings, message):
    """Wherever they appear (issue 29, item 8): the file's machine settings, when no flag overrides them."""
    path = tmp_path / "acc.yaml"
    path.write_text("distributed_type: MULTI_GPU\nnum_processes: 2\n" + settings)
    with pytest.raises(ConfigError, match=message):
        launch_command(train_args(accelerate_config=str(path)), cuda_devices=0)
    flags = {"num_machines": 2, "machine_rank": 1, "main_process_ip": "h", "main_process_port": 29500}
    assert "--machine_rank=1" in launch_command(
        train_args(accelerate_config=str(path), **flags), cuda_devices=0
    )


def test_command_with_gpus_one_process_per_gpu():
    cmd = launch_command(train_args(num_processes=4, resume=True), cuda_devices=4)
    assert cmd[3:8] == ["--multi_gpu", "--num_processes", "4", "--num_machines", "1"]
    assert "--num_cpu_threads_per_process" not in cmd and cmd[-1] == "--resume"
    with pytest.raises(ConfigError, match="only 4 GPU"):
        launch_command(train_args(num_processes=8), cuda_devices=4)


def test_command_with_accelerate_config_lets_the_file_decide():
    preset = str(PRESETS / "cpu_2proc.yaml")
    cmd = launch_command(train_args(num_processes=None, accelerate_config=preset), cuda_devices=0)
    assert cmd[3:5] == ["--config_file", preset] and "--multi_gpu" not in cmd and "--num_processes" not in cmd
    cmd = launch_command(train_args(num_processes=3, accelerate_config=preset), cuda_devices=0)
    assert cmd[5:7] == ["--num_processes", "3"]


def test_single_process_accelerate_configs_are_refused(tmp_path):
    multi_cpu = tmp_path / "multi_cpu.yaml"
    multi_cpu.write_text("distributed_type: MULTI_CPU\nnum_processes: 2\n")
    with pytest.raises(ConfigError, match="ONE process"):
        launch_command(train_args(accelerate_config=str(multi_cpu)), cuda_devices=0)
    with pytest.raises(ConfigError, match="does not exist"):
        launch_command(train_args(accelerate_config=str(tmp_path / "none.yaml")), cuda_devices=0)


def test_deepspeed_preset_needs_deepspeed():
    import importlib.util

    if importlib.util.find_spec("deepspeed") is not None:
        pytest.skip("deepspeed is installed")
    with pytest.raises(ConfigError, match="pip install deepspeed"):
        launch_command(train_args(accelerate_config=str(PRESETS / "deepspeed_zero2.yaml")), cuda_devices=0)


@pytest.mark.parametrize(
    "path", sorted(PRESETS.glob("*.yaml")) + [REPO / "accelerate_config.yaml"], ids=lambda p: p.name
)
def test_presets_load_in_accelerate(path):
    from accelerate.commands.config.config_args import load_config_from_file

    config = load_config_from_file(str(path))  # accelerate's own loader: unknown keys fail here
    assert config.num_machines == 1 and config.num_processes == 2


def test_cli_checks_before_launching(tiny_bert, tmp_path, monkeypatch, capsys):
    from fieldtune.cli import main

    recipe = write_recipe(tmp_path / "r.yaml", text_recipe(tiny_bert))
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "config.yaml").write_text("task: x\n")
    launched = []
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: launched.append(a))
    assert main(["train", str(recipe), "--num-processes", "2", "--output-dir", str(taken)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    monkeypatch.setenv("LOCAL_RANK", "0")  # inside a launched process: never launch again
    assert main(["train", str(recipe), "--num-processes", "2", "--output-dir", str(tmp_path / "new")]) == 2
    assert "already started" in capsys.readouterr().err
    assert not launched


# --------------------------------------------------------------------------- real 2-process runs


def write_recipe(path: Path, recipe: dict) -> Path:
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


# The comparison is about data sharding and gathering, so both runs compute in fp32: under bf16 (auto on
# AMX CPUs) a matmul's rounding depends on its batch shape (8 rows per rank vs 16), ~1e-3 on the scores.
PRECISION = "fp32"


def text_recipe(model_dir: Path) -> dict:
    # 184 rows -> train 128 / validation 19 / test 37. Train 128 = 8 x 16: every optimizer step sees 16 whole
    # rows in both runs (no short last batch), and the length-grouped sampler's mega-batches
    # (min(n // (4 x per-device batch), 50) x per-device batch rows) are 32 rows for 1 x 16 and for 2 x 8 alike,
    # so both runs draw the same batches. Test 37 rows in eval batches of 5: uneven over 2 ranks, so
    # gather_for_metrics must drop the padding.
    return {"task": "text-classification", "name": "t", "model": {"name_or_path": str(model_dir), "max_length": 48},
            "data": {"builder": "logistics_demand", "num_samples": NUM_SAMPLES, "seed": 0},
            "training": {"num_train_epochs": 2, "per_device_train_batch_size": 8, "per_device_eval_batch_size": 5,
                         "learning_rate": 1e-3, "seed": 0, "precision": PRECISION}}  # fmt: skip


def image_recipe(model_dir: Path) -> dict:
    return {"task": "image-classification", "name": "v", "model": {"name_or_path": str(model_dir)},
            "data": {"builder": "geology_images", "num_samples": NUM_SAMPLES, "seed": 0,
                     # augmentation draws per rank: off, so both runs see the same pixels
                     "augment": {"random_resized_crop": False, "horizontal_flip": False, "color_jitter": 0.0}},
            "method": {"name": "full"},
            "training": {"num_train_epochs": 2, "per_device_train_batch_size": 8, "per_device_eval_batch_size": 5,
                         "learning_rate": 2e-3, "seed": 0, "precision": PRECISION}}  # fmt: skip


@pytest.fixture(scope="module")
def deterministic_bert(tiny_bert, tmp_path_factory) -> Path:
    """`tiny_bert` with dropout 0 (each rank would draw its own dropout masks) and its word vocabulary loaded
    (`BertTokenizerFast(vocab_file=...)` in tests/helpers.py gives transformers 5 a tokenizer of the 5 special
    tokens only: every word becomes [UNK])."""
    from transformers import BertTokenizerFast

    folder = tmp_path_factory.mktemp("bert-nodrop")
    shutil.copytree(tiny_bert, folder, dirs_exist_ok=True)
    config = json.loads((folder / "config.json").read_text())
    config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (folder / "config.json").write_text(json.dumps(config))
    words = [w for w in (folder / "vocab.txt").read_text().splitlines() if w]
    tokenizer = BertTokenizerFast(vocab={w: i for i, w in enumerate(words)}, do_lower_case=True)
    tokenizer.model_max_length = 64
    tokenizer.save_pretrained(folder)
    assert len(words) == config["vocab_size"]
    return folder


@pytest.fixture(scope="module")
def tiny_vit(tmp_path_factory) -> Path:
    from tests.test_train_vision import tiny_vision

    return tiny_vision(tmp_path_factory.mktemp("vit"), "vit")  # ViT's dropout defaults to 0


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fieldtune-cache")


def child_env(cache: Path) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("LOCAL_RANK", "RANK", "WORLD_SIZE", "OMP_NUM_THREADS")
    }
    env.update(HF_HUB_OFFLINE="1", HF_HUB_DISABLE_XET="1", TOKENIZERS_PARALLELISM="false",
               FIELDTUNE_CACHE=str(cache), CUDA_VISIBLE_DEVICES="")  # fmt: skip
    return env


def launch(cmd: list[str], cache: Path) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=REPO, env=child_env(cache), capture_output=True, text=True,
                          timeout=LAUNCH_TIMEOUT_S)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    return proc


def single_process_run(recipe: Path, out: Path, cache: Path):
    """The reference: this process, 1 x per_device 16 (the 2-process runs use 2 x 8)."""
    from fieldtune.config import load_config
    from fieldtune.training.run import run

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FIELDTUNE_CACHE", str(cache))
        return run(load_config(recipe, ["--training.per_device_train_batch_size=16"]), output_dir=out)


@pytest.fixture(scope="module")
def text_runs(deterministic_bert, cache_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("text-runs")
    recipe = write_recipe(root / "text.yaml", text_recipe(deterministic_bert))
    (root / "multi").mkdir()
    proc = launch([sys.executable, "-m", "fieldtune", "train", str(recipe), "--num-processes", "2",
                   "--output-dir", str(root / "multi" / "run")], cache_dir)  # fmt: skip
    single = single_process_run(recipe, root / "single", cache_dir)
    return single.run_dir, root / "multi" / "run", proc


@pytest.fixture(scope="module")
def image_runs(tiny_vit, cache_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("image-runs")
    recipe = write_recipe(root / "image.yaml", image_recipe(tiny_vit))
    (root / "multi").mkdir()
    proc = launch([sys.executable, "-m", LAUNCHER_MODULE, "--config_file", str(PRESETS / "cpu_2proc.yaml"),
                   "-m", "fieldtune", "train", str(recipe), "--output-dir", str(root / "multi" / "run")],
                  cache_dir)  # fmt: skip
    single = single_process_run(recipe, root / "single", cache_dir)
    return single.run_dir, root / "multi" / "run", proc


def check_multi_run_directory(run_dir: Path, proc: subprocess.CompletedProcess) -> dict:
    assert [p.name for p in run_dir.parent.iterdir()] == [run_dir.name]  # exactly one run directory
    for name in ("config.yaml", "model/config.json", "model/model.safetensors", "eval_results.json",
                 "predictions.csv", "plots/confusion_matrix.png", "plots/learning_curves.png", "README.md"):  # fmt: skip
        assert (run_dir / name).is_file(), name
    assert not (run_dir / ".incomplete").exists()
    assert not [p for p in run_dir.rglob(".*") if p.name != ".incomplete"]  # no temp files left behind
    assert len(list((run_dir / "logs").rglob("events.out.tfevents*"))) == 1  # TensorBoard: rank 0 only
    last = max((run_dir / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    assert {p.name for p in last.glob("rng_state_*.pth")} == {"rng_state_0.pth", "rng_state_1.pth"}
    assert proc.stdout.count("test split") == 1  # only rank 0 reports
    results = json.loads((run_dir / "eval_results.json").read_text())
    assert results["world_size"] == 2
    return results


def check_same_as_single_process(single_dir: Path, multi_dir: Path, results: dict) -> None:
    reference = json.loads((single_dir / "eval_results.json").read_text())
    assert reference["world_size"] == 1
    # Gathered, not one rank's shard (18-19 rows) nor padded (40): write_results pairs the predictions with the
    # 37 test rows (a count mismatch fails there), and they match the single-process rows one by one.
    assert results["num_test_examples"] == reference["num_test_examples"] == TEST_ROWS
    ours, theirs = pd.read_csv(multi_dir / "predictions.csv"), pd.read_csv(single_dir / "predictions.csv")
    assert len(ours) == TEST_ROWS
    assert ours["label"].tolist() == theirs["label"].tolist()
    assert ours["predicted"].tolist() == theirs["predicted"].tolist()
    np.testing.assert_allclose(ours["score"], theirs["score"], atol=1e-4)
    for name, value in reference["metrics"].items():
        if name != "per_class":
            assert results["metrics"][name] == pytest.approx(value, abs=1e-6), name
    assert (ours["label"] == ours["predicted"]).mean() == pytest.approx(results["metrics"]["accuracy"])


@cpu_only
@pytest.mark.slow
def test_text_two_processes_match_one(text_runs):
    """`fieldtune train --num-processes 2` (through launch_train) == one process with the same global batch.

    2 processes x per_device 8 against 1 process x 16, same seed. DDP averages the two per-rank mean
    gradients, which is the mean over the same 16 rows the single process sees: the train split is 8 x 16
    rows, the length-grouped sampler draws the same batches for both (see text_recipe), and dropout is 0
    (each rank would draw its own masks). What is left is float summation order (all-reduce, per-rank
    padding), ~1e-6 on the logits.
    Tolerance: predicted labels and metrics identical (1e-6), softmax scores within 1e-4; observed equal to
    the 5 decimals predictions.csv keeps. (This tiny random BERT barely learns in 16 steps, so its scores vary
    little from row to row; the image test below checks row order on a model that does learn.)
    """
    single_dir, multi_dir, proc = text_runs
    assert f"{LAUNCHER_MODULE} --multi_gpu --num_processes 2" in proc.stderr  # went through launch_train
    results = check_multi_run_directory(multi_dir, proc)
    check_same_as_single_process(single_dir, multi_dir, results)


@cpu_only
@pytest.mark.slow
def test_image_two_processes_match_one(image_runs):
    """`accelerate launch --config_file configs/accelerate/cpu_2proc.yaml -m fieldtune train` == one process.

    Tiny ViT (dropout 0 by default), augmentation off (each rank would draw its own crops and flips),
    train split 128 = 8 x 16. Same tolerance and reasons as the text test; this model reaches ~0.75 accuracy,
    so predictions and scores differ from row to row and the row-by-row comparison checks the gathered order.
    """
    single_dir, multi_dir, proc = image_runs
    results = check_multi_run_directory(multi_dir, proc)
    assert (multi_dir / "plots" / "samples.png").is_file()
    check_same_as_single_process(single_dir, multi_dir, results)
    assert pd.read_csv(multi_dir / "predictions.csv")["score"].std() > 1e-3


PROBE = """
from transformers import TrainingArguments
import torch.distributed as dist
a = TrainingArguments(output_dir="probe-out", use_cpu=True, report_to="none")
print(f"rank={a.process_index} world={a.world_size} backend={dist.get_backend()}", flush=True)
"""


@cpu_only
@pytest.mark.slow
def test_top_level_accelerate_config_starts_two_processes_without_gpu(cache_dir, tmp_path):
    """`accelerate launch --config_file accelerate_config.yaml ...` (MULTI_GPU) on a CPU-only machine."""
    script = tmp_path / "probe.py"
    script.write_text(PROBE)
    proc = launch([sys.executable, "-m", LAUNCHER_MODULE, "--config_file", str(REPO / "accelerate_config.yaml"),
                   str(script)], cache_dir)  # fmt: skip
    reports = sorted(
        re.findall(r"rank=\d world=\d backend=(?:gloo|nccl|mpi|ccl)", proc.stdout)
    )  # the two prints may share a line
    assert reports == ["rank=0 world=2 backend=gloo", "rank=1 world=2 backend=gloo"]


@cpu_only
@pytest.mark.slow
def test_two_processes_overwrite_a_run(text_runs, cache_dir, tmp_path):
    """`--overwrite` with 2 processes: rank 0 moves the old run aside and deletes it once the new run has
    its checkpoint; the other rank neither refuses the moved folder nor writes; nothing is left beside."""
    _, multi_dir, _ = text_runs
    run_dir = tmp_path / "out" / "run"
    shutil.copytree(multi_dir, run_dir)
    (run_dir / "old_marker.txt").write_text("from the old run")
    recipe = write_recipe(tmp_path / "text.yaml", yaml.safe_load((multi_dir / "config.yaml").read_text()))
    proc = launch([sys.executable, "-m", "fieldtune", "train", str(recipe), "--num-processes", "2",
                   "--output-dir", str(run_dir), "--overwrite"], cache_dir)  # fmt: skip
    check_multi_run_directory(run_dir, proc)  # also: nothing but the run in its parent folder
    assert not (run_dir / "old_marker.txt").exists()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@cpu_only
@pytest.mark.slow
def test_two_machines_on_loopback_write_one_run_matching_one_process(text_runs, cache_dir, tmp_path):
    """Two "machines" of one process each (two separate `fieldtune train --num-machines 2` commands on
    127.0.0.1, gloo) == the one-process run with the same global batch, under the 2-process test's tolerance."""
    single_dir, multi_dir, _ = text_runs
    recipe = write_recipe(tmp_path / "text.yaml", yaml.safe_load((multi_dir / "config.yaml").read_text()))
    run_dir = tmp_path / "out" / "run"
    port = _free_port()
    cmds = [[sys.executable, "-m", "fieldtune", "train", str(recipe), "--num-machines", "2", "--machine-rank",
             str(rank), "--main-process-ip", "127.0.0.1", "--main-process-port", str(port),
             "--output-dir", str(run_dir)] for rank in (0, 1)]  # fmt: skip
    procs = [subprocess.Popen(c, cwd=REPO, env=child_env(cache_dir), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for c in cmds]  # fmt: skip
    outs = [p.communicate(timeout=LAUNCH_TIMEOUT_S) for p in procs]
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, out[-3000:] + err[-6000:]
    assert "--machine_rank=1" in outs[1][1] and "--num_processes 2" in outs[0][1]  # went through the launcher
    both = subprocess.CompletedProcess(cmds[0], 0, outs[0][0] + outs[1][0], outs[0][1] + outs[1][1])
    results = check_multi_run_directory(run_dir, both)  # one run directory, rank 0's report only
    check_same_as_single_process(single_dir, run_dir, results)
