"""Rank runs and Hub models: fieldtune leaderboard [RUN ...] [--hub ID ...] [--benchmark SPEC.yaml] [--output DIR]"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("runs", nargs="*", help="Run directories (their eval_results.json).")
    p.add_argument("--hub", nargs="+", default=[], help="Hub model ids (their model-index results).")
    p.add_argument(
        "--benchmark", help="Benchmark spec YAML: evaluate every model on exactly that split first."
    )
    p.add_argument("--output", help="Folder for leaderboard.csv / .md / .png / .html.")
    p.add_argument(
        "--overwrite", action="store_true", help="Replace the leaderboard files already in --output."
    )
    p.add_argument("--push-to", help="Publish the leaderboard as a Hub dataset repo, namespace/name.")
    p.add_argument("--cache-dir", help="Benchmark results cache (default: ~/.cache/fieldtune/benchmarks).")


def main(args: argparse.Namespace) -> int:
    from fieldtune.errors import FieldtuneError
    from fieldtune.leaderboard import build_leaderboard

    runs = [Path(r) for r in args.runs]
    if not runs and not args.hub:
        raise FieldtuneError("leaderboard needs run directories and/or --hub model ids to rank.")
    _check_arguments(args, runs)
    extra = []
    if args.benchmark:
        from fieldtune.leaderboard.benchmark import (
            ResultCache,
            default_cache_dir,
            load_benchmark_spec,
            run_benchmark,
        )

        spec = load_benchmark_spec(Path(args.benchmark))
        cache = ResultCache(Path(args.cache_dir) if args.cache_dir else default_cache_dir())
        extra = run_benchmark(spec, [str(r) for r in runs] + list(args.hub), _evaluate_for_benchmark, cache)
        runs, hub = [], []
    else:
        hub = list(args.hub)
    out = Path(args.output) if args.output else None
    if args.push_to and out is None:
        out = Path("leaderboard")
    _, text = build_leaderboard(runs, hub, out, extra_entries=extra)
    print(text)
    if out is not None:
        print(f"Wrote {out}/leaderboard.{{csv,md,png,html}}")
    if args.push_to:
        from fieldtune.hub.repos import push_folder_as_dataset

        print(f"Published to {push_folder_as_dataset(out, args.push_to)}")
    return 0


def _check_arguments(args: argparse.Namespace, runs: list[Path]) -> None:
    """Everything that can be wrong with the arguments, before a model is evaluated or a file written."""
    from fieldtune.errors import FieldtuneError
    from fieldtune.hub.repos import check_repo_id
    from fieldtune.leaderboard.render import BOARD_FILES
    from fieldtune.rundir.layout import check_new_file, check_output_path

    if args.push_to:
        check_repo_id(args.push_to, "--push-to")
    for hub_id in args.hub:
        check_repo_id(hub_id.partition("@")[0], "--hub")
    missing = [str(r) for r in runs if not r.exists()]
    if missing:
        raise FieldtuneError(
            f"Run directory {missing[0]} does not exist; pass folders `fieldtune train` wrote."
        )
    if args.benchmark and not Path(args.benchmark).is_file():
        raise FieldtuneError(f"--benchmark {args.benchmark} does not exist; pass a benchmark spec YAML file.")
    seen: dict[Path, str] = {}
    for r in runs:  # the same run twice would be ranked against itself ("tied with #1")
        key = (r if r.is_dir() else r.parent).resolve()
        if key in seen:
            raise FieldtuneError(f"{r} and {seen[key]} are the same run; list each run once.")
        seen[key] = str(r)
    if len(set(args.hub)) < len(args.hub):
        raise FieldtuneError("--hub lists a model twice; list each model once.")
    if args.output or args.push_to:
        out = Path(args.output or "leaderboard")
        flag = "--output" if args.output else "--push-to (written first into)"  # the folder main() writes
        check_output_path(out, flag, "folder")
        for name in BOARD_FILES:
            check_new_file(out / name, flag, args.overwrite)
    if args.cache_dir:
        check_output_path(Path(args.cache_dir), "--cache-dir", "folder")


def _evaluate_for_benchmark(model_ref: str, spec) -> tuple[dict, str | None]:
    from fieldtune.inference.evaluate import evaluate_model

    ref, _, revision = model_ref.partition("@")
    dataset = dict(spec.dataset)
    results = evaluate_model(
        ref, dataset.pop("path", None), spec.split, revision or None, data_overrides=dataset
    )
    results["dataset"] = spec.name
    return results, results.get("revision")
