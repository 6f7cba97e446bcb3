"""Text fine-tuning: fieldtune's recipe vs the transformers `run_classification.py` example, in one process.

(a) fieldtune: `fieldtune.training.run.run(load_config(recipe, overrides))`, default
    configs/logistics/hs_sections_minilm_full.yaml (HS goods descriptions -> 21 sections, MiniLM, full).
(b) peer: the example's defaults written as a plain `Trainer` script: every text padded to
    max_seq_length=128 (`padding="max_length"`, `default_data_collator`), fp32, batch 8, lr 5e-5, AdamW,
    linear schedule without warm-up, weight decay 0, no class weights, random sampling. Same data split
    (fieldtune's `build_dataset`), same model folder, same number of epochs and seed.

Both report train samples/s (samples stepped / wall time of `train()`), end-to-end wall time (data ->
trained model -> test predictions), test accuracy and macro-F1, and MFU: training FLOPs actually executed
(padded tokens included, `common.model_flops_per_sample_text`) per second / matmul peak measured at the
start of this same process (fp32 and bf16).

Real figures (from the repository root; about 15-30 min on 2 CPU cores):

    python benchmarks/bench_text.py --json benchmarks/out/text.json

`--profile STEPS`: fieldtune's side only, STEPS training steps under torch.profiler; prints the seconds per
operator family (matmul, casts, optimizer, norms / activations, outside operators) and the matmul kernels'
own rate against the peak: where the MFU that is not reached goes.

Options: `--epochs N` (both), `--max-train-samples N` (both), `--skip-peer`, `--recipe PATH`,
`--data-path PATH`, and any fieldtune override as `--section.key=value` (the peer reads epochs, seed and
data from the same config). Validation only (under a minute):

    python benchmarks/bench_text.py --quick
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import (  # noqa: E402
    ROOT,
    Timer,
    emit_json,
    instrument,
    machine_info,
    macro_f1_present,
    measure_matmul_peak,
    model_flops_per_sample_text,
    peak_rss_mb,
    print_ratio,
    print_table,
    quiet_libraries,
    ratio,
)
from benchmarks.profiling import OpProfile, print_profile, profile_train  # noqa: E402

DEFAULT_RECIPE = "configs/logistics/hs_sections_minilm_full.yaml"
DEFAULT_DATA = "../shared/data/hs_codes"  # relative to the repository root, as in the recipe
PEER_MAX_LENGTH = 128  # run_classification.py: max_seq_length=128, pad_to_max_length=True


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, list[str]]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--recipe", help=f"fieldtune recipe (default {DEFAULT_RECIPE})")
    p.add_argument("--data-path", help=f"--data.path of the recipe (default {DEFAULT_DATA})")
    p.add_argument("--epochs", type=float, help="training epochs of both (default: the recipe's)")
    p.add_argument("--max-train-samples", type=int, help="cap the train split of both")
    p.add_argument("--quick", action="store_true", help="validation only: 16 samples, batch 8, 2 steps")
    p.add_argument("--skip-peer", action="store_true")
    p.add_argument(
        "--profile",
        type=int,
        metavar="STEPS",
        help="fieldtune only, STEPS steps under torch.profiler: where the time goes",
    )
    p.add_argument("--json", dest="json_out", help="also write the result object to this file")
    args, rest = p.parse_known_args(argv)
    bad = [a for a in rest if not (a.startswith("--") and "." in a.split("=")[0] and "=" in a)]
    if bad:
        p.error(f"unknown arguments {bad}; fieldtune overrides are written --section.key=value")
    return args, rest


def build_config(args: argparse.Namespace, extra: list[str]) -> Any:
    from fieldtune.config import load_config

    overrides = [f"--data.path={args.data_path}"]
    if args.epochs is not None:
        overrides.append(f"--training.num_train_epochs={args.epochs}")
    if args.max_train_samples:
        overrides.append(f"--data.max_train_samples={args.max_train_samples}")
    if args.profile:
        overrides.append(f"--training.max_steps={args.profile}")
    if args.quick:  # tiny: a 1% stratified test split (56 texts), 16 training texts, batch 8, 2 steps
        overrides += [
            "--data.max_train_samples=16",
            "--data.test_size=0.01",
            "--training.per_device_train_batch_size=8",
            "--training.max_steps=2",
        ]
    return load_config(args.recipe, overrides + extra)


def model_config(config: Any, num_labels: int) -> Any:
    from transformers import AutoConfig

    from fieldtune.modeling.create import resolve_model_path

    return AutoConfig.from_pretrained(resolve_model_path(config.model.name_or_path), num_labels=num_labels)


def train_figures(probe: Any, mconf: Any) -> dict[str, Any]:
    flops = sum(b * model_flops_per_sample_text(mconf, n) for b, n in probe.batches)
    samples = probe.samples
    return {
        "train_samples": samples,
        "train_steps": len(probe.batches),
        "train_s": probe.train_s,
        "samples_per_s": samples / probe.train_s if probe.train_s else None,
        "tokens_per_sample": probe.tokens / samples if samples else None,
        "real_tokens_per_sample": probe.real_tokens / samples if samples else None,
        "train_flops": flops,
        "achieved_gflops": flops / probe.train_s / 1e9 if probe.train_s else None,
    }


def run_fieldtune(config: Any, workdir: Path) -> dict[str, Any]:
    from fieldtune.training.run import run

    with Timer() as wall, instrument() as probe:
        result = run(config, output_dir=workdir / "fieldtune", overwrite=True)
    res = result.results
    mconf = model_config(config, len(res["metrics"].get("per_class", {})) or 2)
    return {
        **train_figures(probe, mconf),
        "wall_s": wall.seconds,
        "trainer_samples_per_s": res.get("train_samples_per_s"),
        "accuracy": res["metrics"]["accuracy"],
        "f1_macro": res["metrics"]["f1_macro"],
        "precision": res.get("precision"),
        "attention": res.get("attn_implementation"),
        "batch_size": config.training.per_device_train_batch_size,
        "max_length": config.model.max_length,
        "learning_rate": config.training.learning_rate,
        "padding": "dynamic (group_by_length)",
        "rss_after_train_mb": probe.rss_after_train_mb,
    }


def run_peer(config: Any, workdir: Path) -> dict[str, Any]:
    """`run_classification.py` with its defaults, on fieldtune's split of the same data."""
    import numpy as np
    import torch
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        Trainer,
        TrainingArguments,
        default_data_collator,
        set_seed,
    )

    from fieldtune.datasets_builders import build_dataset
    from fieldtune.modeling.create import resolve_model_path

    with Timer() as wall:
        set_seed(config.training.seed)
        dd = build_dataset(config.data, config.task)  # identical split: same builder, config and seed
        names = dd["train"].features["label"].names
        path = resolve_model_path(config.model.name_or_path)
        tokenizer = AutoTokenizer.from_pretrained(path)

        def encode(batch: dict) -> dict:
            return tokenizer(batch["text"], padding="max_length", max_length=PEER_MAX_LENGTH, truncation=True)

        keep = {"label"}
        tok = dd.map(
            encode, batched=True, remove_columns=[c for c in dd["train"].column_names if c not in keep]
        )
        model = AutoModelForSequenceClassification.from_pretrained(
            path,
            num_labels=len(names),
            id2label=dict(enumerate(names)),
            label2id={n: i for i, n in enumerate(names)},
        )
        loop: dict[str, Any] = {}
        if "max_steps" in config.training.extra:  # --quick: the same loop length as fieldtune
            loop["max_steps"] = config.training.extra["max_steps"]
        args = TrainingArguments(
            output_dir=str(workdir / "peer"),
            num_train_epochs=config.training.num_train_epochs,
            seed=config.training.seed,
            use_cpu=not torch.cuda.is_available(),
            report_to="none",
            disable_tqdm=True,
            save_total_limit=2,  # the example keeps every checkpoint (save_steps=500); only disk differs
            **loop,
        )
        trainer = Trainer(
            model=model,
            args=args,
            train_dataset=tok["train"],
            data_collator=default_data_collator,
            processing_class=tokenizer,
        )
        with instrument() as probe:
            out = trainer.train()
        pred = trainer.predict(tok["test"])
    accuracy, f1 = macro_f1_present(np.asarray(tok["test"]["label"]), pred.predictions.argmax(-1))
    return {
        **train_figures(probe, model_config(config, len(names))),
        "wall_s": wall.seconds,
        "trainer_samples_per_s": out.metrics.get("train_samples_per_second"),
        "accuracy": accuracy,
        "f1_macro": f1,
        "precision": "fp32",
        "attention": model.config._attn_implementation,
        "batch_size": args.per_device_train_batch_size,
        "max_length": PEER_MAX_LENGTH,
        "learning_rate": args.learning_rate,
        "padding": "max_length",
        "rss_after_train_mb": probe.rss_after_train_mb,
    }


def report_profile(side: dict[str, Any], profile: OpProfile, peaks: dict[str, float]) -> None:
    print_profile(profile, f"{side['train_steps']} steps, {side['precision']}")
    matmul_s = profile.families.get("matmul / convolution") or 0.0
    peak = peaks["bf16" if side["precision"] == "bf16" else "fp32"]
    if matmul_s:
        rate = side["train_flops"] / matmul_s / 1e9
        print(
            f"matmul kernels alone: {rate:.1f} GFLOP/s = {100 * rate / peak:.1f}% of the {side['precision']} peak "
            f"({peak:.1f}); MFU = matmul share of time x that efficiency"
        )


def add_mfu(side: dict[str, Any], peaks: dict[str, float]) -> None:
    achieved = side.get("achieved_gflops")
    used = "bf16" if side.get("precision") == "bf16" else "fp32"
    side["mfu_used_precision"] = achieved / peaks[used] if achieved else None
    side["mfu_vs_bf16"] = achieved / peaks["bf16"] if achieved else None


def report(sides: dict[str, dict[str, Any]], peaks: dict[str, float]) -> None:
    names = list(sides)
    keys = [
        ("precision", "precision"),
        ("attention", "attention"),
        ("batch_size", "batch size"),
        ("max_length", "max length"),
        ("padding", "padding"),
        ("learning_rate", "learning rate"),
        ("train_samples", "train samples stepped"),
        ("train_s", "train() wall s"),
        ("samples_per_s", "train samples/s"),
        ("trainer_samples_per_s", "  (Trainer's figure)"),
        ("tokens_per_sample", "tokens/sample executed"),
        ("real_tokens_per_sample", "tokens/sample real"),
        ("achieved_gflops", "achieved GFLOP/s"),
        ("mfu_used_precision", "MFU vs peak of precision used"),
        ("mfu_vs_bf16", "MFU vs bf16 peak"),
        ("wall_s", "end-to-end wall s"),
        ("accuracy", "test accuracy"),
        ("f1_macro", "test macro-F1"),
        ("rss_after_train_mb", "process peak RSS MiB"),
    ]
    rows = [(label, [sides[n].get(k) for n in names]) for k, label in keys]
    print_table("text fine-tuning", names, rows)
    print(
        f"matmul peak (this process): fp32 = {peaks['fp32']:.1f} GFLOP/s, bf16 = {peaks['bf16']:.1f} GFLOP/s"
    )
    if "peer" in sides:
        ft, peer = sides["fieldtune"], sides["peer"]
        print_ratio(
            "speed-up fieldtune/peer", ratio(ft["samples_per_s"], peer["samples_per_s"]), "train samples/s"
        )
        print_ratio("speed-up fieldtune/peer", ratio(peer["wall_s"], ft["wall_s"]), "end-to-end wall time")
        print_ratio(
            "padding saved peer/fieldtune",
            ratio(peer["tokens_per_sample"], ft["tokens_per_sample"]),
            "tokens executed per sample",
        )
        print(
            f"accuracy fieldtune - peer = {ft['accuracy'] - peer['accuracy']:+.4f}, "
            f"macro-F1 fieldtune - peer = {ft['f1_macro'] - peer['f1_macro']:+.4f}"
        )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args, extra = parse_args(argv)
    json_out = Path(args.json_out).resolve() if args.json_out else None
    args.recipe = str(Path(args.recipe).resolve()) if args.recipe else DEFAULT_RECIPE
    args.data_path = str(Path(args.data_path).resolve()) if args.data_path else DEFAULT_DATA
    os.chdir(ROOT)  # given paths are resolved above; the defaults and recipes are relative to the root
    quiet_libraries()
    config = build_config(args, extra)
    reps = 1 if args.quick else 3
    peaks = {
        d: measure_matmul_peak(d, reps=reps, target_s=0.1 if args.quick else 0.4) for d in ("fp32", "bf16")
    }
    sides: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="bench_text_") as tmp:
        with profile_train(enabled=bool(args.profile)) as profile:
            sides["fieldtune"] = run_fieldtune(config, Path(tmp))
        if args.profile:
            sides["fieldtune"]["profile"] = dataclasses.asdict(profile)
        if not (args.skip_peer or args.profile):
            sides["peer"] = run_peer(config, Path(tmp))
    for side in sides.values():
        add_mfu(side, peaks)
    report(sides, peaks)
    if args.profile:
        report_profile(sides["fieldtune"], profile, peaks)
    result = {
        "benchmark": "text",
        "recipe": args.recipe,
        "overrides": extra,
        "quick": args.quick,
        "epochs": config.training.num_train_epochs,
        "seed": config.training.seed,
        "peaks_gflops": peaks,
        "machine": machine_info(),
        "final_peak_rss_mb": peak_rss_mb(),
        **sides,
    }
    if "peer" in sides:
        result["speedup_samples_per_s"] = ratio(
            sides["fieldtune"]["samples_per_s"], sides["peer"]["samples_per_s"]
        )
        result["speedup_wall"] = ratio(sides["peer"]["wall_s"], sides["fieldtune"]["wall_s"])
    emit_json(result, json_out)
    return result


if __name__ == "__main__":
    main()
