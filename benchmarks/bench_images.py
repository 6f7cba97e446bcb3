"""Image fine-tuning: fieldtune's recipe vs the transformers `run_image_classification.py` pattern.

(a) fieldtune: `fieldtune.training.run.run(load_config(recipe, overrides))`, default
    configs/geology/lithology_probe_unfreeze.yaml on ../shared/data/lithology/train with the recipe's
    backbone ../shared/models/mobilenet-v2-1.0-224 (or `--model models/vit-tiny-patch16-224`): images
    decoded and resized once (cached), augmented on tensors; head on cached features, then the top blocks.
(b) peer (`peer_images.py`): the example's pattern as a plain `Trainer` script: `set_transform` decodes every JPEG and applies
    PIL transforms on the fly at every step (RandomResizedCrop(scale 0.08-1) + horizontal flip + to-tensor
    + Normalize for training; Resize + CenterCrop for testing), fp32, full fine-tuning, batch 8, lr 5e-5,
    AdamW, linear schedule; same model, same split (fieldtune's `build_dataset`), seed, input size.

Epochs: the peer trains `training.num_train_epochs` of the recipe (`--peer-epochs` to change); fieldtune's
probe_unfreeze adds `method.probe_epochs` of head-only training on cached features. `--method.name=full`
makes fieldtune fine-tune fully too: then the comparison isolates the data pipeline.

`--probe-speed`: fieldtune's probe (`method.name=probe`) with the feature cache vs training the head
through the frozen backbone (`method.feature_cache=false`), same epochs (`method.probe_epochs`, or
`--epochs`) and learning rate (`method.probe_learning_rate`); prints the speed-up and both head accuracies.

Real figures (from the repository root; roughly 10-30 min each on 2 CPU cores):

    python benchmarks/bench_images.py --json benchmarks/out/images_mobilenet.json
    python benchmarks/bench_images.py --model models/vit-tiny-patch16-224 \\
        --json benchmarks/out/images_vit.json
    python benchmarks/bench_images.py --probe-speed --json benchmarks/out/probe_speed.json

`--profile`: each side's `train()` under torch.profiler; prints seconds per operator family (convolutions,
norms / activations, augmentation, optimizer, outside operators: Python, PIL decoding, collation).

Each fieldtune run gets its own empty pixel cache (`FIELDTUNE_CACHE`), so its wall time includes the
one-off decoding; `--warm-cache` uses the normal cache instead. Validation only: add `--quick`.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
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
    peak_rss_mb,
    print_ratio,
    print_table,
    quiet_libraries,
    ratio,
)
from benchmarks.peer_images import run_peer  # noqa: E402
from benchmarks.profiling import print_profile, profile_train  # noqa: E402

DEFAULT_RECIPE = "configs/geology/lithology_probe_unfreeze.yaml"
DEFAULT_DATA = "../shared/data/lithology/train"  # relative to the repository root, as in the recipe


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, list[str]]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--recipe", help=f"fieldtune recipe (default {DEFAULT_RECIPE})")
    p.add_argument("--data-path", help=f"image folder (default {DEFAULT_DATA})")
    p.add_argument("--model", help="backbone folder (default: the recipe's MobileNetV2)")
    p.add_argument("--epochs", type=float, help="training.num_train_epochs (--probe-speed: probe epochs)")
    p.add_argument("--peer-epochs", type=float, help="peer epochs (default: training.num_train_epochs)")
    p.add_argument("--probe-speed", action="store_true", help="feature cache vs frozen-backbone training")
    p.add_argument("--warm-cache", action="store_true", help="use fieldtune's normal pixel cache")
    p.add_argument("--quick", action="store_true", help="validation only: 12 images per class, 2 steps")
    p.add_argument("--skip-peer", action="store_true")
    p.add_argument(
        "--profile", action="store_true", help="each side's train() under torch.profiler: where the time goes"
    )
    p.add_argument("--json", dest="json_out", help="also write the result object to this file")
    args, rest = p.parse_known_args(argv)
    bad = [a for a in rest if not (a.startswith("--") and "." in a.split("=")[0] and "=" in a)]
    if bad:
        p.error(f"unknown arguments {bad}; fieldtune overrides are written --section.key=value")
    return args, rest


def quick_subset(source: Path, dest: Path, per_class: int = 12) -> Path:
    """A copy of the first `per_class` images of every class folder (validation runs only)."""
    for folder in sorted(p for p in source.iterdir() if p.is_dir()):
        (dest / folder.name).mkdir(parents=True)
        for f in sorted(folder.glob("*.jpg"))[:per_class]:
            shutil.copy(f, dest / folder.name / f.name)
    return dest


def build_config(args: argparse.Namespace, data_path: str, extra: list[str]) -> Any:
    from fieldtune.config import load_config

    overrides = [f"--data.path={data_path}"]
    if args.model:
        overrides.append(f"--model.name_or_path={args.model}")
    if args.epochs is not None and not args.probe_speed:
        overrides.append(f"--training.num_train_epochs={args.epochs}")
    if args.quick:  # 36 images: 9 test, 5 validation; batch 8, 2 steps per phase
        overrides += [
            "--data.test_size=0.25",
            "--data.validation_size=0.15",
            "--training.per_device_train_batch_size=8",
            "--training.max_steps=2",
        ]
    return load_config(args.recipe, overrides + extra)


# --------------------------------------------------------------------------- fieldtune


def run_fieldtune(config: Any, workdir: Path, name: str, warm_cache: bool) -> dict[str, Any]:
    from fieldtune.trainers.vision import VisionTrainer
    from fieldtune.training.run import run

    if not warm_cache:  # an empty pixel cache per run: the decoding is part of its wall time
        os.environ["FIELDTUNE_CACHE"] = str(workdir / f"cache-{name}")
    with Timer() as wall, instrument(extra_classes=[VisionTrainer]) as probe:
        result = run(config, output_dir=workdir / name, overwrite=True)
    res = result.results
    n_epochs = config.training.num_train_epochs
    return {
        "method": config.method.name + ("" if config.method.feature_cache else " (no feature cache)"),
        "epochs": n_epochs,
        "probe_epochs": config.method.probe_epochs if config.method.name == "probe_unfreeze" else None,
        "batch_size": config.training.per_device_train_batch_size,
        "learning_rate": config.training.learning_rate,
        "backbone_samples": probe.samples,
        "head_only_samples": probe.head_only_samples,
        "train_s": probe.train_s,
        "samples_per_s": probe.samples / probe.train_s if probe.samples and probe.train_s else None,
        "all_samples_per_s": (probe.samples + probe.head_only_samples) / probe.train_s
        if probe.train_s
        else None,
        "trainer_samples_per_s": res.get("train_samples_per_s"),
        "wall_s": wall.seconds,
        "accuracy": res["metrics"]["accuracy"],
        "f1_macro": res["metrics"]["f1_macro"],
        "precision": res.get("precision"),
        "rss_after_train_mb": probe.rss_after_train_mb,
    }


# --------------------------------------------------------------------------- main

ROWS = [
    ("method", "method"),
    ("precision", "precision"),
    ("epochs", "epochs"),
    ("probe_epochs", "+ head-only epochs (cached)"),
    ("batch_size", "batch size"),
    ("learning_rate", "learning rate"),
    ("backbone_samples", "samples through backbone"),
    ("head_only_samples", "samples head-only (features)"),
    ("train_s", "train() wall s (all phases)"),
    ("samples_per_s", "backbone samples/s"),
    ("all_samples_per_s", "all samples stepped/s"),
    ("trainer_samples_per_s", "  (Trainer's figure)"),
    ("wall_s", "end-to-end wall s"),
    ("accuracy", "test accuracy"),
    ("f1_macro", "test macro-F1"),
    ("rss_after_train_mb", "process peak RSS MiB"),
]


def compare(args: argparse.Namespace, config: Any, tmp: Path) -> dict[str, Any]:
    runs = {"fieldtune": lambda: run_fieldtune(config, tmp, "fieldtune", args.warm_cache)}
    if not args.skip_peer:
        runs["peer"] = lambda: run_peer(config, tmp, args.peer_epochs or config.training.num_train_epochs)
    sides: dict[str, dict[str, Any]] = {}
    for name, run_side in runs.items():
        with profile_train(enabled=args.profile) as profile:
            sides[name] = run_side()
        if args.profile:
            sides[name]["profile"] = dataclasses.asdict(profile)
            print_profile(profile, f"{name}, {sides[name]['precision']}")
    print_table(
        f"image fine-tuning ({config.model.name_or_path})",
        list(sides),
        [(label, [s.get(k) for s in sides.values()]) for k, label in ROWS],
    )
    out: dict[str, Any] = dict(sides)
    if "peer" in sides:
        ft, peer = sides["fieldtune"], sides["peer"]
        out["speedup_samples_per_s"] = ratio(ft["samples_per_s"], peer["samples_per_s"])
        out["speedup_train"] = ratio(peer["train_s"], ft["train_s"])
        out["speedup_wall"] = ratio(peer["wall_s"], ft["wall_s"])
        print_ratio("speed-up fieldtune/peer", out["speedup_samples_per_s"], "backbone samples/s")
        print_ratio("speed-up fieldtune/peer", out["speedup_train"], "train() wall time, all phases")
        print_ratio("speed-up fieldtune/peer", out["speedup_wall"], "end-to-end wall time")
        print(f"accuracy fieldtune - peer = {ft['accuracy'] - peer['accuracy']:+.4f}")
    return out


def probe_speed(args: argparse.Namespace, config: Any, tmp: Path) -> dict[str, Any]:
    import copy

    epochs = args.epochs or config.method.probe_epochs
    sides = {}
    for name, cached in (("feature cache", True), ("frozen backbone", False)):
        c = copy.deepcopy(config)
        c.method.name, c.method.feature_cache = "probe", cached
        c.training.num_train_epochs, c.training.learning_rate = epochs, config.method.probe_learning_rate
        sides[name] = run_fieldtune(c, tmp, "cached" if cached else "uncached", args.warm_cache)
    print_table(
        "probe: cached features vs frozen backbone",
        list(sides),
        [(label, [s.get(k) for s in sides.values()]) for k, label in ROWS if k != "probe_epochs"],
    )
    fast, slow = sides["feature cache"], sides["frozen backbone"]
    out: dict[str, Any] = {"probe": sides}
    out["speedup_train"] = ratio(slow["train_s"], fast["train_s"])
    out["speedup_wall"] = ratio(slow["wall_s"], fast["wall_s"])
    print_ratio("speed-up cache/frozen", out["speedup_train"], "train() wall time")
    print_ratio("speed-up cache/frozen", out["speedup_wall"], "end-to-end wall time")
    print(
        f"head accuracy: cache {fast['accuracy']:.4f}, frozen backbone {slow['accuracy']:.4f} "
        "(the frozen-backbone run sees augmented images, the cache the eval transform)"
    )
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args, extra = parse_args(argv)
    json_out = Path(args.json_out).resolve() if args.json_out else None
    args.recipe = str(Path(args.recipe).resolve()) if args.recipe else DEFAULT_RECIPE
    data_path = str(Path(args.data_path).resolve()) if args.data_path else DEFAULT_DATA
    if args.model:
        args.model = str(Path(args.model).resolve())
    os.chdir(ROOT)  # given paths are resolved above; the defaults and recipes are relative to the root
    quiet_libraries()
    with tempfile.TemporaryDirectory(prefix="bench_images_") as tmp:
        if args.quick:
            data_path = str(quick_subset(Path(data_path).resolve(), Path(tmp) / "data"))
        config = build_config(args, data_path, extra)
        body = probe_speed(args, config, Path(tmp)) if args.probe_speed else compare(args, config, Path(tmp))
    result = {
        "benchmark": "images-probe-speed" if args.probe_speed else "images",
        "recipe": args.recipe,
        "model": config.model.name_or_path,
        "overrides": extra,
        "quick": args.quick,
        "seed": config.training.seed,
        "machine": machine_info(),
        "final_peak_rss_mb": peak_rss_mb(),
        **body,
    }
    emit_json(result, json_out)
    return result


if __name__ == "__main__":
    main()
