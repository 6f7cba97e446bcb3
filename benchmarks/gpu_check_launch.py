"""Multi-GPU launches of `gpu_check.py` (only with 2 or more GPUs): a DDP and an FSDP run of a small text
recipe through `fieldtune train --num-processes 2` (and `--accelerate-config configs/accelerate/fsdp.yaml`),
then `--resume` of the FSDP run from its last checkpoint to more steps. The parity section then reloads
both `model/` folders in plain transformers.

Each launch has a time limit and is killed with its process group when it passes it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT

FSDP = "configs/accelerate/fsdp.yaml"
LIMIT_S = 240


def launch(args: list[str], log: Path, limit_s: float = LIMIT_S) -> dict[str, Any]:
    """`python -m fieldtune train ...` in its own process group; exit code, seconds, the log's tail."""
    start = time.perf_counter()
    with log.open("w") as f:
        proc = subprocess.Popen(
            [sys.executable, "-m", "fieldtune", "train", *args], cwd=ROOT, stdout=f, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        try:
            code = proc.wait(timeout=limit_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the launcher and every rank it started
            proc.wait()
            code = "timeout"
    tail = log.read_text(errors="replace")[-1500:]
    return {"status": "ok" if code == 0 else "failed", "exit": code, "seconds": round(time.perf_counter() - start, 1),
            **({} if code == 0 else {"detail": tail.strip().splitlines()[-1][:300] if tail.strip() else "", "log_tail": tail})}  # fmt: skip


def global_step(run_dir: Path) -> int | None:
    states = sorted(
        run_dir.glob("checkpoints/checkpoint-*/trainer_state.json"),
        key=lambda p: int(p.parent.name.split("-")[-1]),
    )
    return json.loads(states[-1].read_text()).get("global_step") if states else None  # fmt: skip


def ddp_fsdp_launches(folder: Path, quick: bool, gpus: int) -> dict[str, Any]:
    import yaml

    from benchmarks.gpu_check_data import MINILM_SHAPE, TINY_BERT, save_bert
    from fieldtune.datasets_builders.logistics_demand import generate_logistics_demand

    folder.mkdir(parents=True, exist_ok=True)
    model = folder / "bert"
    if not (model / "config.json").is_file():
        save_bert(
            model,
            generate_logistics_demand(600, seed=0)["note"].tolist(),
            TINY_BERT if quick else MINILM_SHAPE,
        )
    recipe = folder / "recipe.yaml"  # the demo's shipment notes, full fine-tuning, a checkpoint every 4 steps
    recipe.write_text(yaml.safe_dump({
        "task": "text-classification",
        "model": {"name_or_path": str(model), "max_length": 64},
        "data": {"builder": "logistics_demand", "num_samples": 600, "seed": 0},
        "method": {"name": "full"},
        "training": {"per_device_train_batch_size": 16, "learning_rate": 1e-4, "seed": 0,
                     "save_strategy": "steps", "save_steps": 4, "eval_strategy": "steps", "eval_steps": 4},
    }))  # fmt: skip
    common = [str(recipe), "--num-processes", "2"]
    launches: dict[str, Any] = {}
    runs = {"ddp": folder / "ddp", "fsdp": folder / "fsdp"}
    launches["ddp (2 processes)"] = launch(
        [*common, "--overwrite", "--output-dir", str(runs["ddp"])], folder / "ddp.log"
    )
    fsdp = [*common, "--accelerate-config", FSDP, "--output-dir", str(runs["fsdp"])]
    launches["fsdp (2 processes)"] = launch(
        [*fsdp, "--overwrite", "--training.max_steps=8"], folder / "fsdp.log"
    )
    if launches["fsdp (2 processes)"]["status"] == "ok":
        before = global_step(runs["fsdp"])
        resumed = launch([*fsdp, "--resume", "--training.max_steps=12"], folder / "fsdp_resume.log")
        after = global_step(runs["fsdp"])
        # evaluated every 4 steps: a resumed run logs one evaluation (step 12), a restarted one three
        evals = (folder / "fsdp_resume.log").read_text(errors="replace").count("'eval_loss'")
        resumed["evaluations_logged"] = evals
        if resumed["status"] == "ok" and (after != 12 or evals >= 3):
            why = f"ended at step {after}, not 12" if after != 12 else "it trained from step 0 again"
            resumed.update(status="failed", detail=f"--resume: {why}")
        launches["fsdp --resume (8 -> 12 steps)"] = {**resumed, "step_before": before, "step_after": after}
    saved = {f"multi_gpu {name}": path for name, path in runs.items() if (path / "model").is_dir()}
    return {"gpus": gpus, "data": "600 generated shipment notes", "model": f"{'tiny' if quick else 'MiniLM-shaped'} BERT, full",
            "launches": launches, "run_dirs": saved,
            "failures": [name for name, r in launches.items() if r["status"] != "ok"]}  # fmt: skip
