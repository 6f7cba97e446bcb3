"""One prepared GPU check: every figure a single GPU run should give, into ONE JSON and ONE markdown table.

Run through `bash benchmarks/gpu_check.sh` (it installs what is missing first); `--quick` runs the same
code on a CPU with tiny models in about 60 s of CPU time (its figures mean nothing). Sections, each recorded on
its own (a failure is written down with its error and the others still run; the exit code is 1 if any
failed):

- text: the HS recipe (bf16 autocast through `precision: auto`, SDPA, dynamic padding) vs the
  `run_classification.py` defaults (`bench_text.py`'s peer): train samples/s and their ratio.
- images: the lithology recipe (decoded-pixel Arrow cache, DataLoader workers) vs the
  `run_image_classification.py` pattern with as many workers (`peer_images.py`): samples/s, the ratio
  against the >= 5x target, both accuracies.
- lora_memory: LoRA vs full fine-tuning of a bert-base-sized model, each in its own process
  (`bench_lora_memory.py`): peak `torch.cuda.max_memory_allocated` (peak RSS on a CPU).
- probe: the probe on cached features vs through the frozen backbone (`bench_images.py --probe-speed`).
- multi_gpu: with 2 or more GPUs, a DDP and an FSDP launch of a small text recipe and an FSDP `--resume`
  (`gpu_check_launch.py`); skipped, with the reason, on one GPU.
- parity: every saved model reloads in plain transformers / peft, in a process that never imports
  fieldtune (`gpu_check_parity.py`), and predicts what the run wrote in predictions.csv.

Data and models never come from outside the repository unless ../shared is there: with
../shared/data/hs_codes and ../shared/data/lithology the recipes run on the real data (and the real
MobileNetV2 backbone); otherwise on generated notes (`logistics_demand`) and generated rock textures
(`geology_images`, re-encoded as 224-px JPEGs like the thin sections), with MiniLM when its package is
installed or a MiniLM-shaped BERT built from its config, and the ViT-Tiny shipped in models/. The JSON says
which, per section.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import ROOT, machine_info, measure_matmul_peak, quiet_libraries, ratio  # noqa: E402
from benchmarks.gpu_check_data import image_setup, text_setup  # noqa: E402
from benchmarks.gpu_check_report import write_outputs  # noqa: E402

IMAGE_TARGET = 5.0  # issue 16: fieldtune's image pipeline >= 5x the run_image_classification.py pattern
LORA_TARGET = 0.60  # LoRA peak memory <= 60% of full fine-tuning


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="gpu_check_out", help="output folder (default gpu_check_out/)")
    p.add_argument(
        "--quick", action="store_true", help="CPU validation: tiny models, 2 steps (about 60 s of CPU time)"
    )
    p.add_argument(
        "--work",
        help="data, models and run directories (default: OUT_work beside the output folder, so that OUT "
        "holds the two result files alone)",
    )
    p.add_argument("--allow-cpu", action="store_true", help="run the full-size check without a GPU anyway")
    p.add_argument(
        "--budget-s",
        type=float,
        default=480,
        help="once this many seconds have passed, the sections left are skipped, all but parity "
        "(default 480: the 8 minutes the check is sized for; 0: no limit)",
    )
    p.add_argument(
        "--only", nargs="+", metavar="SECTION", help="run these sections only (parity always runs last)"
    )
    return p.parse_args(argv)


# --------------------------------------------------------------------------- sections


def section_text(ctx: dict[str, Any]) -> dict[str, Any]:
    from benchmarks import bench_text

    config, about = text_setup(ctx["work"], ctx["quick"])
    peaks = {d: measure_matmul_peak(d, reps=1 if ctx["quick"] else 3, target_s=0.1) for d in ("fp32", "bf16")}
    sides = {
        "fieldtune": bench_text.run_fieldtune(config, ctx["work"] / "text"),
        "peer": bench_text.run_peer(config, ctx["work"] / "text"),
    }
    for side in sides.values():
        bench_text.add_mfu(side, peaks)
    ctx["runs"]["text fieldtune (full)"] = ctx["work"] / "text" / "fieldtune"
    ft, peer = sides["fieldtune"], sides["peer"]
    return {
        **about,
        "peaks_gflops": peaks,
        **sides,
        "speedup_samples_per_s": ratio(ft["samples_per_s"], peer["samples_per_s"]),
        "speedup_wall": ratio(peer["wall_s"], ft["wall_s"]),
    }


def section_images(ctx: dict[str, Any]) -> dict[str, Any]:
    import torch

    from benchmarks import bench_images
    from benchmarks.peer_images import run_peer
    from fieldtune.trainers.arguments import auto_dataloader_workers

    config, about = image_setup(ctx["work"], ctx["quick"])
    workers = config.training.extra.get("dataloader_num_workers")
    workers = auto_dataloader_workers(use_cpu=not torch.cuda.is_available()) if workers is None else workers
    ft = bench_images.run_fieldtune(config, ctx["work"], "images", warm_cache=False)
    ft["dataloader_workers"] = workers
    peer = run_peer(config, ctx["work"], config.training.num_train_epochs, workers=workers)
    ctx["runs"][f"images fieldtune ({config.method.name})"] = ctx["work"] / "images"
    speedup = ratio(ft["samples_per_s"], peer["samples_per_s"])
    return {
        **about,
        "fieldtune": ft,
        "peer": peer,
        "speedup_samples_per_s": speedup,
        "speedup_train": ratio(peer["train_s"], ft["train_s"]),
        "speedup_wall": ratio(peer["wall_s"], ft["wall_s"]),
        "target": IMAGE_TARGET,
        "meets_target": speedup is not None and speedup >= IMAGE_TARGET,
        "accuracy_difference": ft["accuracy"] - peer["accuracy"],
    }


def section_lora_memory(ctx: dict[str, Any]) -> dict[str, Any]:
    from benchmarks import bench_lora_memory as blm

    args = blm.parse_args(["--quick"] if ctx["quick"] else [])
    if ctx["quick"]:
        args.steps, args.batch_size, args.seq_len = 2, 4, 32
    folder = ctx["work"] / "lora_memory"
    params = blm.make_model(folder / "model", ctx["quick"])
    blm.make_data(
        folder / "data.csv", folder / "model", args.steps * args.batch_size + args.batch_size, args.seq_len
    )
    # --quick: two workers (each a fresh process, seconds of imports); lora+ckpt only in the full check.
    # The workers run at the same time: RSS and torch.cuda.max_memory_allocated are per process, and
    # their train() times are not figures of this section.
    methods = [m for m in blm.METHODS if not (ctx["quick"] and m == "lora+ckpt")]
    with ThreadPoolExecutor(len(methods)) as pool:
        futures = {
            m: pool.submit(
                blm.run_worker,
                m,
                folder / "model",
                folder / "data.csv",
                args,
                folder,
                "glibc",
                folder / f"run-{m}",
            )
            for m in methods
        }
        sides = {m: f.result() for m, f in futures.items()}
    ctx["runs"].update({f"lora_memory {m}": folder / f"run-{m}" for m in methods})
    gpu = sides["full"].get("cuda_peak_mb") is not None
    key = "cuda_peak_mb" if gpu else "peak_after_train_mb"
    value = {m: sides[m][key] if m in sides else None for m in blm.METHODS}
    return {
        "model": f"random-init BERT, {params / 1e6:.1f} M parameters"
        + (" (tiny, --quick)" if ctx["quick"] else " (bert-base shape)"),
        "data": f"{args.steps * args.batch_size} generated texts, every batch {args.batch_size} x {args.seq_len}",
        "metric": "torch.cuda.max_memory_allocated MiB" if gpu else "peak RSS MiB (no GPU)",
        "peak_mb": value,
        "ratio_lora": ratio(value["lora"], value["full"]),
        "ratio_lora_ckpt": ratio(value["lora+ckpt"], value["full"]),
        "target": LORA_TARGET,
        "meets_target": (ratio(value["lora"], value["full"]) or 9.0) <= LORA_TARGET,
        "sides": sides,
    }


def section_probe(ctx: dict[str, Any]) -> dict[str, Any]:
    from benchmarks import bench_images

    config, about = image_setup(ctx["work"], ctx["quick"])
    args = argparse.Namespace(epochs=None, warm_cache=False)
    body = bench_images.probe_speed(args, config, ctx["work"])
    ctx["runs"]["probe (feature cache)"] = ctx["work"] / "cached"
    ctx["runs"]["probe (frozen backbone)"] = ctx["work"] / "uncached"
    return {**about, **body}


def section_multi_gpu(ctx: dict[str, Any]) -> dict[str, Any]:
    import torch

    n = torch.cuda.device_count()
    if n < 2:
        return {"skipped": f"{n} CUDA device(s) visible; the DDP / FSDP launches need 2 or more"}
    from benchmarks.gpu_check_launch import ddp_fsdp_launches

    body = ddp_fsdp_launches(ctx["work"] / "multi_gpu", ctx["quick"], n)
    ctx["runs"].update(body.pop("run_dirs"))
    return body


def section_parity(ctx: dict[str, Any]) -> dict[str, Any]:
    from benchmarks.gpu_check_parity import check_runs

    runs = {name: path for name, path in ctx["runs"].items() if (Path(path) / "model").is_dir()}
    if not runs:
        return {"skipped": "no section saved a model"}
    body = check_runs(runs, ctx["work"] / "parity.json")
    return {**body, "failures": [name for name, r in body["runs"].items() if not r.get("ok")]}


SECTIONS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "text": section_text,
    "images": section_images,
    "lora_memory": section_lora_memory,
    "probe": section_probe,
    "multi_gpu": section_multi_gpu,
    "parity": section_parity,
}


def run_section(name: str, fn: Callable[[dict[str, Any]], dict[str, Any]], ctx: dict[str, Any]) -> dict:
    """One section; its error is recorded, not raised: a GPU run is precious, the others must still run."""
    print(f"\n######## gpu_check: {name}", flush=True)
    start = time.perf_counter()
    try:
        body = fn(ctx)  # `failures`: what went wrong inside a section that still has figures to keep
        status = "failed" if body.get("failures") else "skipped" if "skipped" in body else "ok"
    except (Exception, SystemExit) as e:  # SystemExit: a benchmark's worker reports failure that way
        body = {"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()[-4000:]}
        status = "failed"
        print(f"gpu_check: section {name} FAILED: {body['error']}", flush=True)
    return {"status": status, "seconds": round(time.perf_counter() - start, 1), **body}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = Path(args.out).resolve()
    os.chdir(ROOT)  # recipes and models/ are relative to the repository root
    import torch

    if not (torch.cuda.is_available() or args.quick or args.allow_cpu):
        print(
            "gpu_check: no CUDA GPU visible; this is a GPU check: run it on a GPU machine, or add --quick "
            "(tiny models, a CPU validation whose figures mean nothing) or --allow-cpu (full size, slow)",
            file=sys.stderr,
        )
        return 2
    quiet_libraries()
    work = Path(args.work).resolve() if args.work else out.with_name(out.name + "_work")
    work.mkdir(parents=True, exist_ok=True)
    os.environ["FIELDTUNE_CACHE"] = str(work / "cache")  # no user cache read or written
    result: dict[str, Any] = {
        "check": "gpu_check",
        "quick": args.quick,
        "note": "--quick: tiny models on whatever device is there; the figures only show the check runs"
        if args.quick
        else ("no GPU: full size on a CPU (--allow-cpu)" if not torch.cuda.is_available() else ""),
        "machine": machine_info(),
        "versions": versions(),
        "work_dir": str(work),
        "sections": {},
    }
    ctx: dict[str, Any] = {"work": work, "quick": args.quick, "runs": {}}
    started = time.perf_counter()
    for name, fn in SECTIONS.items():
        if args.only and name not in args.only and name != "parity":
            continue
        spent = time.perf_counter() - started
        if args.budget_s and spent > args.budget_s and name != "parity":
            why = f"time budget of {args.budget_s:.0f} s spent ({spent:.0f} s); run it with --only {name}"
            result["sections"][name] = {"status": "skipped", "seconds": 0, "skipped": why}
            continue
        result["sections"][name] = run_section(name, fn, ctx)
        free_gpu_memory()  # what a failed section's frames held must not shrink the next one
        result["total_s"] = round(time.perf_counter() - started, 1)
        write_outputs(result, out)  # after every section: a run cut short keeps what it measured
    failed = [n for n, s in result["sections"].items() if s["status"] == "failed"]
    print(f"\ngpu_check: wrote {out / 'gpu_check.json'} and {out / 'gpu_check.md'} in {result['total_s']} s")
    print("gpu_check: " + (f"FAILED sections: {', '.join(failed)}" if failed else "every section ran"))
    return 1 if failed else 0


def free_gpu_memory() -> None:
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def versions() -> dict[str, str]:
    import importlib.metadata as md

    found = {}
    for name in ("torch", "transformers", "accelerate", "peft", "datasets", "onnxruntime"):
        try:
            found[name] = md.version(name)
        except md.PackageNotFoundError:
            found[name] = "missing"
    return found


if __name__ == "__main__":
    raise SystemExit(main())
