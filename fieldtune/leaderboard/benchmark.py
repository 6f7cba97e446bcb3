"""Benchmark mode: evaluate several models on one benchmark spec, with a results cache.

A spec names a task, the dataset (the dict a data builder takes) and a split. Each model is evaluated
by an injected `evaluate_fn`, so this module knows nothing about loading models or data; the results
become ordinary `Entry`s for `build_leaderboard(extra_entries=...)`.

Evaluations are slow, so results are cached per (model id, model revision, spec hash). The revision is
resolved *before* evaluating (a Hub commit sha, or a fingerprint of a local model folder): the cache can
only save the evaluation if it can be looked up without running it.

Example:
    >>> spec = load_benchmark_spec("benchmarks/logistics_demand.yaml")
    >>> entries = run_benchmark(spec, ["runs/a", "org/bert-demand"], evaluate_fn, ResultCache(default_cache_dir()))
    >>> boards, text = build_leaderboard([], [], None, extra_entries=entries)
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import logging
import os
import re
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fieldtune import progress
from fieldtune.config import TaskName
from fieldtune.errors import ConfigError
from fieldtune.leaderboard.collect import Entry, entry_from_results
from fieldtune.leaderboard.render import atomic_write

logger = logging.getLogger(__name__)

# Bump when the meaning of cached results changes (metric definitions, file layout): old entries then miss.
CACHE_VERSION = 1

EvaluateFn = Callable[[str, "BenchmarkSpec"], tuple[dict[str, Any], str]]


@dataclass(frozen=True)
class BenchmarkSpec:
    """What to evaluate every model on.

    Args:
        name (`str`): Benchmark name; it is the `dataset` of the board the results land on, so benchmark
            scores never mix with scores measured on other data.
        task (`str`): `text-classification`, `text-regression` or `image-classification`.
        dataset (`dict`): Passed unchanged to the data builder, e.g. `{"builder": "logistics_demand", "seed": 0}`.
        split (`str`, *optional*, defaults to `"test"`): Split to evaluate on.
        primary_metric (`str`, *optional*): Metric to rank by; defaults to the evaluation's own primary metric.
    """

    name: str
    task: str
    dataset: dict[str, Any] = field(default_factory=dict)
    split: str = "test"
    primary_metric: str | None = None

    @property
    def spec_hash(self) -> str:
        """Hash of what changes the scores: task, dataset, split, and the fingerprint of local data files.

        `name` and `primary_metric` are left out: renaming a benchmark or ranking by another metric does
        not change any score, so it must not throw the cache away.
        """
        payload = {"v": CACHE_VERSION, "task": self.task, "dataset": self.dataset, "split": self.split}
        path = self.dataset.get("path")
        if isinstance(path, str) and Path(path).exists():
            payload["data_fingerprint"] = local_fingerprint(Path(path))  # edited data must miss
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


_SPEC_FIELDS = [f.name for f in dataclasses.fields(BenchmarkSpec)]
_REQUIRED = ("name", "task", "dataset")


def spec_from_dict(data: Mapping[str, Any], where: str = "benchmark spec") -> BenchmarkSpec:
    """Validate a mapping into a `BenchmarkSpec`.

    Raises:
        `ConfigError`: an unknown key (the nearest valid key is named), a missing key, or a wrong type.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where} must be a YAML mapping with keys {', '.join(_SPEC_FIELDS)}.")
    for key in data:
        if key not in _SPEC_FIELDS:
            close = difflib.get_close_matches(str(key), _SPEC_FIELDS, n=1)
            hint = f"did you mean `{close[0]}`?" if close else f"valid keys: {', '.join(_SPEC_FIELDS)}."
            raise ConfigError(f"Unknown key `{key}` in {where}; {hint}")
    missing = [key for key in _REQUIRED if key not in data]
    if missing:
        raise ConfigError(
            f"{where} lacks {', '.join(f'`{k}`' for k in missing)}; add it (see `fieldtune leaderboard --help`)."
        )
    for key in ("name", "task", "split", "primary_metric"):
        value = data.get(key)
        if value is not None and not (isinstance(value, str) and value.strip()):
            raise ConfigError(f"`{key}` in {where} must be a non-empty string, got {value!r}.")
    tasks = typing.get_args(TaskName)
    if data["task"] not in tasks:
        close = difflib.get_close_matches(data["task"], tasks, n=1)
        hint = f"did you mean `{close[0]}`?" if close else f"valid tasks: {', '.join(tasks)}."
        raise ConfigError(f"Unknown task `{data['task']}` in {where}; {hint}")
    if not isinstance(data["dataset"], Mapping):
        raise ConfigError(
            f"`dataset` in {where} must be a mapping for the data builder, e.g. `{{builder: logistics_demand}}`."
        )
    return BenchmarkSpec(
        name=data["name"],
        task=data["task"],
        dataset=dict(data["dataset"]),
        split=data.get("split") or "test",
        primary_metric=data.get("primary_metric"),
    )


def load_benchmark_spec(path: str | Path) -> BenchmarkSpec:
    """Load a benchmark spec YAML file.

    Args:
        path (`str` or `Path`): A YAML file with keys `name`, `task`, `dataset`, and optionally `split`,
            `primary_metric`.

    Raises:
        `ConfigError`: the file is missing or not YAML, or a key is unknown, missing or mistyped.

    Example:
        ```yaml
        name: logistics-demand-v1
        task: text-classification
        dataset: {builder: logistics_demand, seed: 0}
        split: test
        primary_metric: f1_macro
        ```
    """
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(f"Benchmark spec {path} cannot be read ({err.strerror}); check the path.") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"Benchmark spec {path} is not valid YAML ({err}); fix the syntax.") from err
    return spec_from_dict(data if data is not None else {}, where=str(path))


def local_fingerprint(path: Path) -> str:
    """Cheap content fingerprint of a local file or folder: names, sizes and modification times."""
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    digest = hashlib.sha256()
    for file in files:
        stat = file.stat()
        digest.update(
            f"{file.relative_to(path) if file != path else file.name}|{stat.st_size}|{stat.st_mtime_ns}\n".encode()
        )
    return digest.hexdigest()[:16]


def split_model_ref(model_ref: str) -> tuple[str, str | None]:
    """`"org/name@rev"` -> `("org/name", "rev")`; a local path or a bare id -> `(model_ref, None)`."""
    if "@" in model_ref and not Path(model_ref).exists():
        model_id, revision = model_ref.rsplit("@", 1)
        return model_id, revision or None
    return model_ref, None


def resolve_model_revision(model_ref: str) -> str | None:
    """The revision a model ref points at now, without evaluating it; `None` when it cannot be known.

    Local folders get `local-<fingerprint>` of their `model/` subfolder (a run directory) or of themselves,
    so retraining in place changes the key. Hub ids get the commit sha of the asked revision (one API
    call; an `@<40-hex sha>` suffix needs none).
    """
    path = Path(model_ref)
    if path.exists():
        # Only the weights decide the scores; eval outputs written next to them must not change the key.
        return "local-" + local_fingerprint(path / "model" if (path / "model").is_dir() else path)
    model_id, revision = split_model_ref(model_ref)
    if revision and re.fullmatch(r"[0-9a-f]{40}", revision):
        return revision
    try:
        from huggingface_hub import HfApi

        return HfApi().model_info(model_id, revision=revision).sha
    except (
        Exception
    ) as err:  # offline, not found, denied...: only means "no cache lookup"; evaluate reports real errors
        logger.info(
            "Cannot resolve the revision of %s (%s); its cached results are not used.", model_ref, err
        )
        return None


def default_cache_dir() -> Path:
    """`$FIELDTUNE_CACHE/benchmarks`, else `$XDG_CACHE_HOME/fieldtune/benchmarks`, else `~/.cache/fieldtune/benchmarks`."""
    root = (
        os.environ.get("FIELDTUNE_CACHE")
        or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "fieldtune"
    )
    return Path(root) / "benchmarks"


class ResultCache:
    """Eval results on disk, one JSON file per (model id, revision, spec hash).

    Args:
        cache_dir (`Path`): Folder of the cache (created on first `put`). Files live at
            `<cache_dir>/<spec_hash>/<model slug>@<revision slug>-<key hash>.json`, readable by a person.
    """

    def __init__(self, cache_dir: str | Path) -> None:
        self.cache_dir = Path(cache_dir)

    def path(self, model_id: str, revision: str, spec_hash: str) -> Path:
        """Where the results of this key are stored."""

        def slug(text: str) -> str:
            return re.sub(r"[^A-Za-z0-9._-]+", "--", text).strip("-")[:80] or "x"

        # Slugs can collide ("a/b" vs "a--b"); the hash of the exact key keeps file names unique.
        key_hash = hashlib.sha256(json.dumps([model_id, revision, spec_hash]).encode()).hexdigest()[:8]
        return self.cache_dir / spec_hash / f"{slug(model_id)}@{slug(revision)}-{key_hash}.json"

    def get(self, model_id: str, revision: str, spec_hash: str) -> dict[str, Any] | None:
        """The cached eval results of this key, or `None` on a miss (also for an unreadable file)."""
        path = self.path(model_id, revision, spec_hash)
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return None  # a broken cache file must cost a re-evaluation, never a failed run
        expected = {
            "cache_version": CACHE_VERSION,
            "model_id": model_id,
            "revision": revision,
            "spec_hash": spec_hash,
        }
        if not isinstance(record, dict) or any(record.get(k) != v for k, v in expected.items()):
            return None
        results = record.get("results")
        return results if isinstance(results, dict) else None

    def put(self, model_id: str, revision: str, spec_hash: str, results: dict[str, Any]) -> Path:
        """Store eval results for this key (atomically) and return the file written."""
        record = {
            "cache_version": CACHE_VERSION,
            "model_id": model_id,
            "revision": revision,
            "spec_hash": spec_hash,
            "results": results,
        }
        data = json.dumps(record, indent=2, sort_keys=True, default=str).encode("utf-8")
        return atomic_write(self.path(model_id, revision, spec_hash), data)


def run_benchmark(
    spec: BenchmarkSpec,
    models: Sequence[str],
    evaluate_fn: EvaluateFn,
    cache: ResultCache | None,
    resolve_revision: Callable[[str], str | None] = resolve_model_revision,
) -> list[Entry]:
    """Evaluate each model on `spec` (or take its cached results) and return leaderboard entries.

    Args:
        spec (`BenchmarkSpec`): What to evaluate on.
        models (`Sequence[str]`): Model refs: run directories, model folders, Hub ids, `org/name@revision`.
        evaluate_fn (`Callable[[str, BenchmarkSpec], tuple[dict, str]]`): Evaluates one model ref on the spec
            and returns `(eval_results, revision)`: a dict shaped like `eval_results.json` and the revision
            actually evaluated.
        cache (`ResultCache`, *optional*): Where results are reused from and stored; `None` disables caching.
        resolve_revision (`Callable[[str], str | None]`, *optional*): Revision of a model ref before
            evaluating it (the cache key); defaults to `resolve_model_revision`. `None` means "unknown":
            no lookup, and the results are stored under the revision `evaluate_fn` returns.

    Returns:
        `list[Entry]` with `source="benchmark"`, `dataset=spec.name`, `split=spec.split`, in `models` order.
    """
    spec_hash = spec.spec_hash
    entries = []
    for model_ref in progress.bar(models, desc=f"Benchmark {spec.name}", unit="model"):
        model_id, _ = split_model_ref(model_ref)
        revision = resolve_revision(model_ref) if cache is not None else None
        results = cache.get(model_id, revision, spec_hash) if cache is not None and revision else None
        if results is not None:
            logger.info("benchmark %s: %s@%s from cache", spec.name, model_id, revision)
        else:
            logger.info("benchmark %s: evaluating %s", spec.name, model_ref)
            results, evaluated_revision = evaluate_fn(model_ref, spec)
            if not isinstance(results, dict):
                raise TypeError(
                    f"evaluate_fn must return (dict, str), got {type(results).__name__} for {model_ref}"
                )
            # Store under the pre-resolved revision: that is what the next run will look up.
            revision = revision or evaluated_revision
            if cache is not None and revision:
                cache.put(model_id, revision, spec_hash, results)
        entries.append(
            entry_from_results(
                results,
                source="benchmark",
                model=model_ref,
                revision=revision,
                task=spec.task,
                dataset=spec.name,
                split=spec.split,
                primary_metric=spec.primary_metric,
            )
        )
    return entries
