"""What a sweep varies: a grid (`--grid KEY=V1,V2`) or a search space (SPACE.yaml), checked against the recipe.

Grid values are read by the same parser as `--section.key=value` overrides (`fieldtune.config.parse_overrides`)
and every trial's config is built and validated up front, so a wrong key (nearest key named) or a value of the
wrong type fails before anything is trained.

SPACE.yaml maps dotted config keys to distributions (Optuna's):

```yaml
training.learning_rate: {type: float, low: 1.0e-5, high: 1.0e-3, log: true}
training.num_train_epochs: {type: int, low: 1, high: 4}
method.name: {type: categorical, choices: [full, lora]}
```
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from fieldtune.config import RunConfig, config_from_dict, merge_tree, parse_overrides
from fieldtune.config.recipe_paths import model_id
from fieldtune.errors import ConfigError

DISTRIBUTIONS = ("float", "int", "categorical")
_FIELDS = {
    "float": {"low", "high", "log", "step"},
    "int": {"low", "high", "log", "step"},
    "categorical": {"choices"},
}


@dataclass(frozen=True)
class Recipe:
    """The recipe a sweep varies: its effective config (YAML + the overrides every trial gets) as plain data."""

    path: Path
    data: dict[str, Any]
    overrides: tuple[str, ...]
    name: str

    def config(self, params: Mapping[str, Any], name: str | None = None) -> RunConfig:
        """The recipe with `params` ({dotted key: value}) applied, validated; named `name` (default: the recipe's)."""
        config = config_from_dict(merge_tree(self.data, _nested(params)))
        config.name = name or self.name
        return config


def load_recipe(path: str | Path, overrides: Sequence[str]) -> Recipe:
    """Read and validate the recipe (plus overrides) the way `fieldtune train` does."""
    from fieldtune.config import load_config

    base = load_config(path, overrides)  # every one-line error of `train` (missing file, YAML, keys, types)
    return Recipe(Path(path), base.to_dict(), tuple(overrides), base.name or Path(path).stem)


def _nested(params: Mapping[str, Any]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for key, value in params.items():
        node = tree
        *parents, last = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    return tree


def _split_values(text: str) -> list[str]:
    """`a,b,[c,d]` -> ['a', 'b', '[c,d]']: commas inside brackets or quotes belong to one value."""
    values, depth, quote, current = [], 0, None, ""
    for ch in text:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            values.append(current)
            current = ""
            continue
        current += ch
    values.append(current)
    return [v.strip() for v in values]


def _overridden(recipe: Recipe) -> set[str]:
    def keys(tree: Mapping[str, Any], prefix: str = "") -> set[str]:
        out = set()
        for k, v in tree.items():
            out |= keys(v, f"{prefix}{k}.") if isinstance(v, Mapping) else {f"{prefix}{k}"}
        return out

    return keys(parse_overrides(recipe.overrides))


def parse_grid(items: Sequence[str], recipe: Recipe) -> dict[str, list[Any]]:
    """`["model.name_or_path=A,B", "method.name=full,lora"]` -> {key: [values]}, every combination validated."""
    grid: dict[str, list[Any]] = {}
    fixed = _overridden(recipe)
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip().removeprefix("--")
        if not sep or not key:
            raise ConfigError(f"--grid {item!r}: write it as --grid section.key=V1,V2.")
        if key in grid:
            raise ConfigError(f"--grid {key} is given twice; list all its values in one --grid {key}=V1,V2.")
        if key in fixed:
            raise ConfigError(f"--grid {key} is also set by --{key}=...; keep one of them.")
        texts = _split_values(text)
        if not text.strip() or any(not t for t in texts):
            raise ConfigError(
                f"--grid {key}={text}: the grid is empty or has an empty value; list values as V1,V2."
            )
        values = []
        for t in texts:
            value = _lookup(parse_overrides([f"--{key}={t}"]), key)  # the one parser of command-line values
            if isinstance(value, (list, dict)):
                raise ConfigError(f"--grid {key}={text}: {t} is not a single value; a grid lists scalars.")
            # the value as the schema reads it (`3e-3` is a string to YAML, a float to training.learning_rate)
            typed = _lookup(_check_point(recipe, {key: value}, "--grid").to_dict(), key)
            values.append(value if typed is None else typed)
        if len({json.dumps(v, sort_keys=True, default=str) for v in values}) != len(values):
            raise ConfigError(f"--grid {key}={text} lists a value twice; list each value once.")
        grid[key] = values
    if not grid:
        raise ConfigError("The grid is empty; give --grid section.key=V1,V2 (or --search SPACE.yaml).")
    for point in grid_points(grid):
        _check_point(recipe, point, "--grid")
    return grid


def _lookup(tree: Mapping[str, Any], key: str) -> Any:
    for part in key.split("."):
        if not isinstance(tree, Mapping) or part not in tree:
            return None
        tree = tree[part]
    return tree


def grid_points(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    keys = list(grid)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(grid[k] for k in keys))]


def _check_point(recipe: Recipe, point: Mapping[str, Any], flag: str) -> RunConfig:
    try:
        return recipe.config(point)
    except ConfigError as e:
        shown = ", ".join(f"{k}={v}" for k, v in point.items())
        raise ConfigError(f"{flag} ({shown}): {e}") from None


# --------------------------------------------------------------------------- search spaces


def load_space(path: str | Path, recipe: Recipe) -> dict[str, dict[str, Any]]:
    """Read SPACE.yaml -> {key: distribution spec}; keys checked against the schema, bounds against the field."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"--search {path} does not exist; pass a search space YAML file (see the README).")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError, ValueError) as e:
        raise ConfigError(
            f"--search {path} is not valid YAML ({type(e).__name__}); check its indentation."
        ) from None
    if not isinstance(raw, Mapping) or not raw:
        raise ConfigError(
            f"--search {path} must map config keys to distributions, e.g. "
            "`training.learning_rate: {type: float, low: 1e-5, high: 1e-3, log: true}`."
        )
    fixed = _overridden(recipe)
    space = {}
    for key, spec in raw.items():
        key = str(key)
        where = f"--search {path.name}: `{key}`"
        if key in fixed:
            raise ConfigError(f"{where} is also set by --{key}=...; keep one of them.")
        if not isinstance(spec, Mapping) or "type" not in spec:
            raise ConfigError(f"{where} needs a mapping with `type` ({', '.join(DISTRIBUTIONS)}).")
        kind = spec["type"]
        if kind not in DISTRIBUTIONS:
            raise ConfigError(
                f"{where}: unknown distribution {kind!r}; use one of {', '.join(DISTRIBUTIONS)}."
            )
        unknown = sorted(set(spec) - _FIELDS[kind] - {"type"})
        if unknown:
            raise ConfigError(
                f"{where}: {kind} takes {', '.join(sorted(_FIELDS[kind]))}, not `{unknown[0]}`."
            )
        spec = dict(spec)
        if kind == "categorical":
            choices = spec.get("choices")
            if not isinstance(choices, list) or not choices:
                raise ConfigError(f"{where}: categorical needs a non-empty `choices` list.")
            samples = choices
        else:
            low, high = spec.get("low"), spec.get("high")
            number = int if kind == "int" else (int, float)
            if any(isinstance(v, bool) or not isinstance(v, number) for v in (low, high)) or not low < high:
                raise ConfigError(f"{where}: {kind} needs numbers `low` < `high`, got {low!r} and {high!r}.")
            _check_step_and_log(where, kind, spec)
            if spec.get("log") and low <= 0:
                raise ConfigError(f"{where}: a log scale needs `low` > 0, got {low!r}.")
            _optuna_accepts(where, kind, spec)
            samples = [low, high]
        for value in samples:
            _check_point(recipe, {key: value}, f"--search {path.name}")
        space[key] = spec
    return space


def _check_step_and_log(where: str, kind: str, spec: Mapping[str, Any]) -> None:
    """`log` and `step` as Optuna's distributions take them (it raises mid-sweep otherwise)."""
    log, step = spec.get("log", False), spec.get("step")
    if not isinstance(log, bool):
        raise ConfigError(f"{where}: `log` is true or false, got {log!r}.")
    if step is None:
        return
    number = int if kind == "int" else (int, float)
    if isinstance(step, bool) or not isinstance(step, number) or not step > 0:
        whole = "a whole number " if kind == "int" else "a number "
        raise ConfigError(f"{where}: `step` must be {whole}> 0, got {step!r}; or leave it out.")
    if log and (kind == "float" or step != 1):
        raise ConfigError(f"{where}: `log: true` cannot be combined with `step`; keep one of them.")


def _optuna_accepts(where: str, kind: str, spec: Mapping[str, Any]) -> None:
    """The distribution built as `suggest` builds it: any other rejection of Optuna's is one line now."""
    try:
        from optuna.distributions import FloatDistribution, IntDistribution
    except ImportError:  # `run_sweep` names the missing package
        return
    make = IntDistribution if kind == "int" else FloatDistribution
    step = spec.get("step", 1 if kind == "int" else None)
    try:
        make(spec["low"], spec["high"], log=bool(spec.get("log")), step=step)
    except (ValueError, TypeError) as e:
        raise ConfigError(
            f"{where}: Optuna rejects this {kind} distribution ({e}); fix `low`, `high`, `step` or `log`."
        ) from None


def suggest(trial: Any, space: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Sample (or, for an enqueued retry, read back) one value per key through Optuna's `trial.suggest_*`."""
    params = {}
    for key, spec in space.items():
        if spec["type"] == "categorical":
            params[key] = trial.suggest_categorical(key, spec["choices"])
        elif spec["type"] == "int":
            params[key] = trial.suggest_int(
                key, spec["low"], spec["high"], step=spec.get("step", 1), log=bool(spec.get("log"))
            )
        else:
            params[key] = trial.suggest_float(
                key, spec["low"], spec["high"], step=spec.get("step"), log=bool(spec.get("log"))
            )
    return params


# --------------------------------------------------------------------------- trial names

_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


def _short(value: Any) -> str:
    if isinstance(value, float):
        text = f"{value:g}"
    elif isinstance(value, str) and ("/" in value or "\\" in value):
        text = Path(value.rstrip("/\\")).name or value  # a model path or Hub id: its last part
    else:
        text = str(value)
    return _UNSAFE.sub("-", text).strip("-.")[:40] or "x"


def point_names(points: Sequence[Mapping[str, Any]]) -> list[str]:
    """One short, filesystem-safe, unique folder name per grid point: `bert-tiny_lora_learning_rate-0.0003`.
    Model and method values stand alone; other keys are named. Names that collide (two models whose paths end
    alike) get a hash of the point."""
    names = []
    for point in points:
        parts = []
        for key, value in point.items():
            if key == "model.name_or_path":  # a Hub cache snapshot by its Hub id, not its commit hash
                parts.append(_short(model_id(value)))
            elif key == "method.name":
                parts.append(_short(value))
            else:
                parts.append(f"{key.rsplit('.', 1)[-1]}-{_short(value)}")
        names.append("_".join(parts)[:120])
    for i, name in enumerate(names):
        if names.count(name) > 1 or name.startswith("trial-"):
            digest = hashlib.sha256(json.dumps(points[i], sort_keys=True, default=str).encode()).hexdigest()
            names[i] = f"{name[:110]}-{digest[:8]}"
    return names
