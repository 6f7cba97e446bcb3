"""`fieldtune train CONFIG --num-processes N`: re-run the same command under `accelerate launch`.

The parent process validates the recipe and the run directory (one-line errors, nothing launched), then
starts `python -m accelerate.commands.launch ... -m fieldtune train CONFIG ...` (the accelerate CLI
through its module: no PATH lookup) and returns the launcher's exit code. Each of the N processes runs
`fieldtune.training.run.run`; the Trainer shards the training data over them, gathers evaluation predictions, and
only rank 0 writes the run directory.

Flags:
- no `--accelerate-config`: `--multi_gpu --num_processes N --num_machines 1`. With GPUs this is DDP on
  N GPUs. Without a GPU the same flags make accelerate start N processes through torchrun and the
  Trainer (`use_cpu=True`) trains with gloo; `--cpu` / `MULTI_CPU` would start only one process on a
  single machine (see docs/SCALING.md).
- `--accelerate-config FILE`: the file decides (DDP, FSDP, DeepSpeed ...); `--num-processes N`, when
  given, overrides its `num_processes`.
- `--num-machines M --machine-rank R --main-process-ip HOST [--main-process-port P]`, the same command on
  every machine: `--num-processes N` (default 1) processes on each, `--num_processes N*M` for accelerate
  (which counts all machines), torchrun's static rendezvous at HOST:P. With a config file they override
  the file's machine settings.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from fieldtune.errors import ConfigError

LAUNCHER_MODULE = "accelerate.commands.launch"  # `accelerate launch` as a module (accelerate >= 0.20, 1.x)
# Set by torchrun (and the DeepSpeed launcher) in every launched process: it must not launch again.
_LAUNCHED_ENV = ("LOCAL_RANK",)
_SINGLE_PROCESS_TYPES = {"NO", "MULTI_CPU"}  # on one machine accelerate runs these as one process


def read_accelerate_config(path: str | Path) -> dict:
    """The accelerate config file as a dict, with a one-line error when it is missing or not YAML."""
    import yaml

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"--accelerate-config: {p} does not exist (see configs/accelerate/).")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ConfigError(f"--accelerate-config: {p} is not valid YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(data, dict) or "distributed_type" not in data:
        raise ConfigError(f"--accelerate-config: {p} has no `distributed_type`; is it an accelerate config?")
    return data


def _check_accelerate_config(path: str, num_processes: int | None, machines: dict | None = None) -> None:
    data = read_accelerate_config(path)
    if machines is None:  # the file's own machine settings are used: checked as the flags are
        count, rank = data.get("num_machines", 1), data.get("machine_rank", 0)
        if type(count) is not int or count < 1:
            raise ConfigError(f"--accelerate-config: {path} has num_machines {count!r}; give 1 or more.")
        if type(rank) is not int or not 0 <= rank < count:
            raise ConfigError(
                f"--accelerate-config: {path} has machine_rank {rank!r}; give 0 to {count - 1} (one per machine)."
            )
    kind = str(data["distributed_type"]).upper()
    n = num_processes or data.get("num_processes") or 1
    if kind in _SINGLE_PROCESS_TYPES and int(n) > 1 and int(data.get("num_machines") or 1) <= 1:
        raise ConfigError(
            f"--accelerate-config: {path} has distributed_type {kind}, which accelerate runs as ONE process on a "
            "single machine; use configs/accelerate/cpu_2proc.yaml (MULTI_GPU, which also works without a GPU)."
        )
    if kind == "DEEPSPEED":
        import importlib.util

        if importlib.util.find_spec("deepspeed") is None:
            raise ConfigError(
                f"--accelerate-config: {path} needs DeepSpeed, which is not installed: `pip install deepspeed`."
            )


def machine_flags(args: argparse.Namespace) -> dict[str, object] | None:
    """accelerate's machine flags from `--num-machines / --machine-rank / --main-process-ip/-port`, checked;
    None on one machine. `fieldtune train` calls it before anything else, so that a flag given without
    `--num-machines` (or `--num-machines 0`) is an error, not a single-machine run that ignored it."""
    count = getattr(args, "num_machines", None)
    if count is None:
        alone = [
            f"--{name.replace('_', '-')} {getattr(args, name)}"
            for name in ("machine_rank", "main_process_ip", "main_process_port")
            if getattr(args, name, None) is not None
        ]
        if alone:
            raise ConfigError(
                f"{', '.join(alone)} without --num-machines: add --num-machines N (2 or more) to train on "
                "several machines, or drop the flag to train on this one."
            )
        return None
    if count < 2:
        raise ConfigError(f"--num-machines {count}: give 2 or more machines (one machine needs no flag).")
    rank, ip = getattr(args, "machine_rank", None), getattr(args, "main_process_ip", None)
    if rank is None or not 0 <= rank < count:
        raise ConfigError(
            f"--machine-rank: give this machine's rank, 0 to {count - 1}, with --num-machines {count}."
        )
    if not ip:
        raise ConfigError("--main-process-ip: give the address of machine 0 (reachable from every machine).")
    port = getattr(args, "main_process_port", None)
    port = 29500 if port is None else port
    if not 1 <= port <= 65535:
        raise ConfigError(f"--main-process-port {port}: give a free port number (1-65535) on machine 0.")
    return {"num_machines": count, "machine_rank": rank, "main_process_ip": ip, "main_process_port": port}


def launch_command(args: argparse.Namespace, cuda_devices: int | None = None) -> list[str]:
    """The `accelerate launch` command line that runs `fieldtune train` in `args.num_processes` processes.

    Args:
        args (`argparse.Namespace`): parsed `fieldtune train` arguments (`config`, `overrides`,
            `num_processes`, `accelerate_config`, `output_dir`, `overwrite`, `resume`, `debug`).
        cuda_devices (`int`, *optional*): GPUs visible; default `torch.cuda.device_count()`.

    Returns:
        `list[str]`: `[sys.executable, "-m", "accelerate.commands.launch", FLAGS..., "-m", "fieldtune",
        "train", CONFIG, ...]`.
    """
    n = args.num_processes
    accelerate_config = getattr(args, "accelerate_config", None)
    cmd = [sys.executable, "-m", LAUNCHER_MODULE]
    if accelerate_config:
        machines = machine_flags(args)
        _check_accelerate_config(accelerate_config, n, machines)
        cmd += ["--config_file", str(accelerate_config)]
        if n:  # as in the file: all machines' processes together
            cmd += ["--num_processes", str(n)]
        cmd += [f"--{k}={v}" for k, v in (machines or {}).items()]
    else:
        machines = machine_flags(args)
        if machines is None and (n is None or n < 2):
            raise ConfigError("--num-processes must be at least 2 to launch several processes.")
        n = n or 1  # with several machines: processes on each machine
        if cuda_devices is None:
            import torch

            cuda_devices = torch.cuda.device_count()
        if cuda_devices and n > cuda_devices:
            raise ConfigError(
                f"--num-processes {n} but only {cuda_devices} GPU(s) are visible: one process per GPU."
            )
        # The same flags with or without a GPU: without one, `--multi_gpu` still starts N processes through
        # torchrun and each trains on the CPU with gloo (`--cpu` would start a single process).
        if machines is None:
            cmd += ["--multi_gpu", "--num_processes", str(n), "--num_machines", "1"]
        else:  # accelerate counts processes over all machines; torchrun starts n of them on each
            cmd += ["--multi_gpu", "--num_processes", str(n * machines["num_machines"])]
            cmd += [f"--{k}={v}" for k, v in machines.items()]
        cmd += [
            "--mixed_precision",
            "no",
            "--dynamo_backend",
            "no",
        ]  # fieldtune's `training.precision` decides
        if machines is None:
            cmd += ["--main_process_port", "0"]  # a free port: two runs on one machine do not collide
        if not cuda_devices:  # share the cores between the processes instead of 1 thread each
            cmd += ["--num_cpu_threads_per_process", str(max(1, (os.cpu_count() or 1) // n))]
    cmd += ["-m", "fieldtune"]
    if getattr(args, "debug", False):
        cmd.append("--debug")
    if getattr(args, "quiet", False):
        cmd.append("--quiet")
    cmd += ["train", str(args.config), *getattr(args, "overrides", [])]
    if args.output_dir:
        cmd += ["--output-dir", str(args.output_dir)]
    if args.overwrite:
        cmd.append("--overwrite")
    if args.resume:
        cmd.append("--resume")
    return cmd


def launch_train(args: argparse.Namespace) -> int:
    """Run `fieldtune train` under `accelerate launch`; returns the launcher's exit code.

    The caller (`fieldtune train`) ran the preflight, so a mistake is one line and exit code 2 before any
    process starts.
    """
    if any(k in os.environ for k in _LAUNCHED_ENV):
        raise ConfigError(
            "this process was already started by accelerate launch / torchrun; drop --num-processes and "
            "--accelerate-config from the command."
        )
    cmd = launch_command(args)
    print("fieldtune: launching:", " ".join(cmd[1:]), file=sys.stderr, flush=True)
    rc = subprocess.run(cmd, check=False).returncode
    return rc if rc >= 0 else 128 - rc  # killed by signal S: 128 + S, as a shell reports it
