"""Peak memory of LoRA vs full fine-tuning of a BERT-base-sized model, each in its own process.

The model is `BertConfig()` (bert-base: 12 layers, hidden 768, ~110 M parameters) with random weights,
saved to a temporary folder with the MiniLM package's tokenizer (vocab_size set to the tokenizer's).
Each side then trains in a separate `--worker` subprocess through `fieldtune.training.run.run`: `full`, `lora`
(fieldtune's defaults: r=8 on every Linear of the encoder layers, dropout 0, head trained) and
`lora+ckpt` (the same with `training.activation_checkpointing: true`), for a few steps at the same batch
size and sequence length: every text is longer than the limit, so every batch is exactly `--seq-len`
tokens. Memory is `ru_maxrss` of the worker, read when `train()` returns (before test prediction and
saving); the import baseline is subtracted for the training increment. Every side runs twice: with
glibc's default malloc (what users get) and with `MALLOC_MMAP_THRESHOLD_` fixed at 1 MiB, where freed
large blocks go back to the OS, so RSS follows live memory instead of heap fragmentation.
Target: LoRA peak <= 60% of full.

Real figures (from the repository root; about 8-10 min on 2 CPU cores, ~3.5 GB RAM):

    python benchmarks/bench_lora_memory.py --json benchmarks/out/lora_memory.json

Options: `--steps 4 --batch-size 8 --seq-len 128`. Validation only (tiny BERT, seconds): `--quick`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import (  # noqa: E402
    ROOT,
    emit_json,
    instrument,
    machine_info,
    peak_rss_mb,
    print_ratio,
    print_table,
    quiet_libraries,
    ratio,
    save_word_tokenizer,
)

TARGET = 0.60
# side -> (method, extra training settings): LoRA alone, and LoRA with activation checkpointing (the
# memory recipe: activations, not optimizer state, dominate once the base weights are frozen)
METHODS = {
    "full": ("full", {}),
    "lora": ("lora", {}),
    "lora+ckpt": ("lora", {"activation_checkpointing": True}),
}
MMAP_THRESHOLD = 1 << 20  # glibc: blocks >= 1 MiB always mmapped (no dynamic threshold, no heap growth)
TOKENIZER_OF = "sentence-transformers/all-MiniLM-L6-v2"
TOKENIZER_FILES = ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument(
        "--quick", action="store_true", help="validation only: tiny BERT, 2 steps, batch 4, 32 tokens"
    )
    p.add_argument("--json", dest="json_out", help="also write the result object to this file")
    p.add_argument("--worker", choices=list(METHODS), help=argparse.SUPPRESS)
    p.add_argument("--model-dir", help=argparse.SUPPRESS)
    p.add_argument("--data", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    p.add_argument("--run-dir", help=argparse.SUPPRESS)
    return p.parse_args(argv)


# --------------------------------------------------------------------------- parent: model, data


def make_model(folder: Path, quick: bool) -> int:
    """Random-init BERT (bert-base, or tiny with --quick) + the MiniLM tokenizer; returns its parameters.

    Without the MiniLM package (a bare GPU machine) the tokenizer is a word-level one over generated
    shipment notes: memory depends on shapes, not on which words the vocabulary holds."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    from fieldtune.modeling.create import resolve_model_path

    source = Path(resolve_model_path(TOKENIZER_OF))
    if not source.is_dir():
        from fieldtune.datasets_builders.logistics_demand import generate_logistics_demand

        source = folder / "tokenizer"
        save_word_tokenizer(source, generate_logistics_demand(300, seed=1)["note"])
    tokenizer = AutoTokenizer.from_pretrained(source)
    small = {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 128}
    config = BertConfig(vocab_size=len(tokenizer), **(small if quick else {}))
    model = BertModel(config)  # random weights: memory depends on shapes only
    model.save_pretrained(folder)
    for name in TOKENIZER_FILES:  # the tokenizer files, copied as they are
        if (source / name).is_file():
            shutil.copy(source / name, folder / name)
    return sum(p.numel() for p in model.parameters())


def make_data(path: Path, folder: Path, rows: int, seq_len: int) -> None:
    """`rows` texts of 2 x seq_len random whole-word vocabulary entries (all truncated), 3 balanced labels."""
    import pandas as pd

    vocab = [w for w in (folder / "vocab.txt").read_text().split() if w.isalpha() and len(w) > 2]
    rng = random.Random(0)
    texts = [" ".join(rng.choices(vocab, k=2 * seq_len)) for _ in range(rows)]
    pd.DataFrame({"text": texts, "label": [f"c{i % 3}" for i in range(rows)]}).to_csv(path, index=False)


def run_worker(
    method: str,
    model_dir: Path,
    data: Path,
    args: argparse.Namespace,
    tmp: Path,
    allocator: str,
    run_dir: Path | None = None,
) -> dict:
    """One side in a fresh process; `run_dir` keeps its run directory there (else a temporary one)."""
    out = tmp / f"{method}_{allocator}.json"
    env = dict(os.environ)
    if allocator == "mmap":  # large blocks mmapped and unmapped on free: RSS follows live memory
        env["MALLOC_MMAP_THRESHOLD_"] = str(MMAP_THRESHOLD)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", method, "--model-dir", str(model_dir)]
    cmd += ["--data", str(data), "--out", str(out), "--steps", str(args.steps)]
    cmd += ["--batch-size", str(args.batch_size), "--seq-len", str(args.seq_len)]
    cmd += ["--run-dir", str(run_dir)] if run_dir else []
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
    if proc.returncode != 0 or not out.is_file():
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
        raise SystemExit(f"the {method} worker failed (exit {proc.returncode})")
    return json.loads(out.read_text())


# --------------------------------------------------------------------------- worker


def worker(args: argparse.Namespace) -> None:
    """One training run in this fresh process; writes its memory figures to `--out`."""
    quiet_libraries()
    import torch  # noqa: F401  (imported before the baseline is read: every worker pays it)
    import transformers  # noqa: F401

    from fieldtune.config import config_from_dict
    from fieldtune.training.run import run

    baseline = peak_rss_mb()
    rows = args.steps * args.batch_size
    config = config_from_dict(
        {
            "task": "text-classification",
            "model": {"name_or_path": args.model_dir, "max_length": args.seq_len},
            "data": {
                "builder": "text_table",
                "path": args.data,
                "text_columns": ["text"],
                "label_column": "label",
                "test_size": args.batch_size / (rows + args.batch_size),
                "validation_size": 0.0,
            },
            "method": {"name": METHODS[args.worker][0]},
            "training": {
                **METHODS[args.worker][1],
                "max_steps": args.steps,
                "per_device_train_batch_size": args.batch_size,
                "per_device_eval_batch_size": args.batch_size,
                "save_strategy": "no",
                "warmup_ratio": 0.0,
            },
        }
    )
    with tempfile.TemporaryDirectory(prefix=f"lora_mem_{args.worker}_") as tmp, instrument() as probe:
        result = run(config, output_dir=args.run_dir or Path(tmp) / "run", overwrite=True).results
    figures = {
        "method": args.worker,
        "baseline_mb": baseline,
        "peak_before_train_mb": probe.rss_before_train_mb,
        "peak_after_train_mb": probe.rss_after_train_mb,
        "train_increment_mb": probe.rss_after_train_mb - baseline,
        "final_peak_mb": peak_rss_mb(),
        "cuda_before_train_mb": probe.cuda_before_train_mb,  # None without a GPU
        "cuda_peak_mb": probe.cuda_peak_mb,
        "steps": len(probe.batches),
        "batch_shapes": sorted(set(probe.batches)),
        "trainable_params": result.get("trainable_params"),
        "total_params": result.get("total_params"),
        "precision": result.get("precision"),
        "train_s": probe.train_s,
    }
    Path(args.out).write_text(json.dumps(figures))


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> dict[str, Any] | None:
    args = parse_args(argv)
    if args.worker:
        worker(args)
        return None
    json_out = Path(args.json_out).resolve() if args.json_out else None
    if args.quick:
        args.steps, args.batch_size, args.seq_len = 2, 4, 32
    os.chdir(ROOT)
    quiet_libraries()
    with tempfile.TemporaryDirectory(prefix="bench_lora_memory_") as name:
        tmp = Path(name)
        params = make_model(tmp / "model", args.quick)
        make_data(
            tmp / "data.csv", tmp / "model", args.steps * args.batch_size + args.batch_size, args.seq_len
        )
        sides = {
            f"{m} {a}": run_worker(m, tmp / "model", tmp / "data.csv", args, tmp, a)
            for a in ("glibc", "mmap")
            for m in METHODS
        }
        shutil.rmtree(tmp / "model", ignore_errors=True)
    keys = [
        ("precision", "precision"),
        ("trainable_params", "trainable parameters"),
        ("steps", "training steps"),
        ("batch_shapes", "batch shape (B, T)"),
        ("train_s", "train() wall s"),
        ("baseline_mb", "RSS after imports MiB"),
        ("peak_before_train_mb", "peak RSS before train (load) MiB"),
        ("peak_after_train_mb", "peak RSS after train MiB"),
        ("train_increment_mb", "  minus import baseline"),
        ("final_peak_mb", "peak RSS at exit MiB"),
        ("cuda_peak_mb", "GPU max_memory_allocated MiB"),
    ]
    print_table(
        f"LoRA vs full, BERT {params / 1e6:.1f} M params, batch {args.batch_size} x {args.seq_len} tokens"
        f" (glibc: default malloc; mmap: MALLOC_MMAP_THRESHOLD_={MMAP_THRESHOLD})",
        list(sides),
        [(label, [side.get(k) for side in sides.values()]) for k, label in keys],
    )
    full, lora = sides["full glibc"], sides["lora glibc"]
    peak = ratio(lora["peak_after_train_mb"], full["peak_after_train_mb"])
    increment = ratio(lora["train_increment_mb"], full["train_increment_mb"])
    mmap_peak = ratio(sides["lora mmap"]["peak_after_train_mb"], sides["full mmap"]["peak_after_train_mb"])
    ckpt_peak = ratio(sides["lora+ckpt glibc"]["peak_after_train_mb"], full["peak_after_train_mb"])
    ckpt_mmap = ratio(
        sides["lora+ckpt mmap"]["peak_after_train_mb"], sides["full mmap"]["peak_after_train_mb"]
    )
    print_ratio("memory lora/full", peak, "peak RSS after training, default allocator")
    print_ratio("memory lora/full", increment, "peak RSS minus import baseline, default allocator")
    print_ratio("memory lora/full", mmap_peak, "peak RSS after training, large blocks mmapped")
    print_ratio("memory lora+ckpt/full", ckpt_peak, "peak RSS after training, default allocator")
    print_ratio("memory lora+ckpt/full", ckpt_mmap, "peak RSS after training, large blocks mmapped")
    note = " (--quick: tiny model, the baseline dominates; not a real figure)" if args.quick else ""
    verdicts = {}
    for side, value in (("lora", peak), ("lora+ckpt", ckpt_peak)):
        verdicts[side] = "PASS" if value is not None and value <= TARGET else "FAIL"
        print(f"target {side} <= {TARGET:.0%} of full (default allocator): {verdicts[side]}{note}")
    if lora["peak_after_train_mb"] <= lora["peak_before_train_mb"] + 1:
        print("note: LoRA's peak was reached before training (data preparation / model loading), not in it")
    result = {
        "benchmark": "lora-memory",
        "quick": args.quick,
        "model_params": params,
        "batch_size": args.batch_size,
        "seq_len": args.seq_len,
        "steps": args.steps,
        "machine": machine_info(),
        "sides": sides,
        "ratio_peak": peak,
        "ratio_increment": increment,
        "ratio_peak_mmap": mmap_peak,
        "ratio_peak_ckpt": ckpt_peak,
        "ratio_peak_ckpt_mmap": ckpt_mmap,
        "target": TARGET,
        "verdicts": verdicts,
    }
    emit_json(result, json_out)
    return result


if __name__ == "__main__":
    main()
