"""Run configuration: the schema (`fieldtune.config.schema`) loaded from YAML plus dotted CLI overrides.

Every field has a help text; fixed choices are `Literal`s. Unknown keys fail with the nearest valid
key named, wrong types fail with the key named, and the whole config is checked before anything heavy
is loaded (a bad config costs the user a second, not a model download).

Example:
    >>> cfg = load_config("configs/demo/logistics_demand_minilm_lora.yaml", ["--training.num_train_epochs=1"])
    >>> cfg.method.name
    'lora'
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Union

import yaml

from fieldtune.config.modality import for_modality
from fieldtune.config.naming import default_run_name
from fieldtune.config.rules import _show, validate
from fieldtune.config.schema import (
    AugmentConfig,
    BaselineConfig,
    DataConfig,
    DistillConfig,
    EnsembleConfig,
    HubConfig,
    MethodConfig,
    MethodName,
    ModelConfig,
    PretrainingConfig,
    RunConfig,
    TaskName,
    TrainingConfig,
    WeightAveragingConfig,
)
from fieldtune.errors import ConfigError
from fieldtune.tasks.table import Modality

__all__ = [  # the schema is re-exported: callers import every config name from here
    "AugmentConfig", "BaselineConfig", "DataConfig", "DistillConfig", "EnsembleConfig", "HubConfig", "MethodConfig",
    "MethodName", "ModelConfig", "PretrainingConfig", "RunConfig", "TaskName", "TrainingConfig", "WeightAveragingConfig",
    "config_from_dict", "data_config_from_dict", "load_config", "merge_tree", "parse_overrides", "read_recipe", "save_config",
    "validate",
]  # fmt: skip


# --------------------------------------------------------------------------- loading

_SECRET_KEYS = {"token", "hub_token", "use_auth_token", "hf_token", "push_to_hub_token"}
# TrainingArguments fields fieldtune sets itself from its own keys: accepting them would give two truths.
_OWNED_ARGS = {
    "output_dir", "bf16", "fp16", "use_cpu", "do_train", "do_eval", "push_to_hub", "hub_model_id",
    "remove_unused_columns",  # fieldtune's collators pick the inputs: transformers#17894 cannot happen
}  # fmt: skip


def _training_argument_names() -> set[str]:
    from fieldtune.config.training_fields import training_fields  # read from source: no torch import

    names = {f.name for f in training_fields().values() if f.init}
    return names - _OWNED_ARGS - _SECRET_KEYS


def _yaml_no(key: str, value: Any) -> Any:
    """YAML 1.1 reads `no` as False: for a string-valued TrainingArguments field (`save_strategy: no`) the
    user meant the string."""
    if value is not False:
        return value
    from fieldtune.config.training_fields import training_fields

    spec = training_fields().get(key)
    return "no" if spec is not None and spec.string_default else value


def _nearest(key: str, options: Sequence[str]) -> str:
    match = difflib.get_close_matches(key, list(options), n=1, cutoff=0.5)
    return f"; did you mean `{match[0]}`?" if match else f"; valid keys: {', '.join(sorted(set(options)))}"


class _Loader(yaml.SafeLoader):
    """`yaml.SafeLoader` without implicit timestamps: `name: 2024-05-01` stays the string a user wrote (and
    `2024-13-45` is not a crash in `datetime`)."""


def _no_duplicate_keys(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    """PyYAML keeps the last of two equal keys silently: a recipe with `learning_rate` twice is an error."""
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            first = seen.setdefault(key, key_node.start_mark.line + 1)
        except TypeError:  # an unhashable key: construct_mapping names it
            break
        if first != key_node.start_mark.line + 1:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {_show(key)} (lines {first} and {key_node.start_mark.line + 1})",
                key_node.start_mark,
            )  # fmt: skip
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicate_keys)
_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _key(raw: Any) -> str:
    """A mapping key as text (YAML allows `1:` or `null:` as keys)."""
    try:
        return str(raw)
    except ValueError:  # int above sys.get_int_max_str_digits()
        return _show(raw)


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):  # `float | Literal["auto"]` -> "float or auto"
        return " or ".join(_type_name(arm) for arm in typing.get_args(tp) if arm is not type(None))
    if origin is Literal:
        return " or ".join(map(str, typing.get_args(tp)))
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check `value` against the annotation `tp`, converting the lossless cases (int -> float, '1e-4')."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        arms = typing.get_args(tp)
        if value is None and type(None) in arms:
            return None
        errors = []
        for arm in arms:
            if arm is type(None):
                continue
            try:
                return _coerce(value, arm, key)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(
            errors[0] if len(errors) == 1 else f"`{key}`: {_show(value)} is not a valid {_type_name(tp)}."
        )
    if origin is Literal:
        choices = typing.get_args(tp)
        if value not in choices:
            raise ConfigError(f"`{key}`: {_show(value)} is not one of {', '.join(map(str, choices))}.")
        return value
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, key)
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            value = [value]  # `text_columns: description` means one column
        if not isinstance(value, list):
            raise ConfigError(f"`{key}`: expected a list, got {type(value).__name__} {_show(value)}.")
        return [_coerce(v, item_tp, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"`{key}`: expected a mapping, got {type(value).__name__}.")
        return {str(k): v for k, v in value.items()}
    if value is None:
        raise ConfigError(f"`{key}`: a value is required (expected {_type_name(tp)}).")
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"`{key}`: expected true or false, got {_show(value)}.")
        return value
    if tp in (int, float):
        number = value
        if isinstance(value, str):
            try:
                number = float(value) if tp is float else int(value)
            except ValueError:
                number = None
        if isinstance(number, bool) or not isinstance(number, (int, float)):
            raise ConfigError(f"`{key}`: expected a number ({tp.__name__}), got {_show(value)}.")
        if tp is int and (isinstance(number, float) and not number.is_integer()):
            raise ConfigError(f"`{key}`: expected a whole number, got {_show(value)}.")
        try:
            finite = math.isfinite(float(number))
        except OverflowError:  # an int too large for a float
            finite = False
        if not finite:
            raise ConfigError(f"`{key}`: expected a finite number, got {_show(value)}.")
        return tp(number)
    if tp is str:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ConfigError(f"`{key}`: expected a string, got {type(value).__name__} {_show(value)}.")
        try:
            return str(value)
        except ValueError:  # int above sys.get_int_max_str_digits()
            raise ConfigError(f"`{key}`: expected a string, got {_show(value)}.") from None
    raise ConfigError(f"`{key}`: unsupported value {_show(value)}.")


def _build(cls: type, data: Any, prefix: str) -> Any:
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"`{prefix or 'config'}` must be a mapping of keys to values, got {type(data).__name__}."
        )
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name != "extra"}
    kwargs: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for raw_key, value in data.items():
        key = _key(raw_key)
        where = f"{prefix}.{key}" if prefix else key
        if key.lower() in _SECRET_KEYS:
            raise ConfigError(
                f"`{where}`: tokens do not belong in a config file (it is saved with the run); "
                "set HF_TOKEN or run `hf auth login` instead."
            )
        if key not in fields and cls is TrainingConfig and key in _OWNED_ARGS:
            raise ConfigError(
                f"`{where}` is set by fieldtune itself; use training.precision (bf16 / fp16), --output-dir, "
                "or the hub: section instead."
            )
        if key not in fields:
            if cls is TrainingConfig and key in _training_argument_names():
                extra[key] = _yaml_no(key, value)  # validated by TrainingArguments when the trainer is built
                continue
            valid = list(fields) + (sorted(_training_argument_names()) if cls is TrainingConfig else [])
            raise ConfigError(f"Unknown config key `{where}`{_nearest(key, valid)}")
        value = _coerce(value, hints[key], where)
        check = fields[key].metadata.get("check")
        if check and (problem := check(value)):
            raise ConfigError(f"`{where}`: {_show(value)} {problem}.")
        kwargs[key] = value
    obj = cls(**kwargs)
    if extra:
        obj.extra = extra
    return obj


def _string_field(parts: list[str]) -> bool | None:
    """For an override of a string field (`data.label_delimiter`, `model.revision`, `name`, ...): whether
    it may be None (`null`); None for every other key. YAML would turn the text of a string field into
    something else: `|` into an empty block scalar, `yes` into a bool, `0123` into a number."""
    tp: Any = RunConfig
    optional = False
    for part in parts:
        hint = typing.get_type_hints(tp).get(part) if dataclasses.is_dataclass(tp) else None
        if hint is None:
            return None
        arms = typing.get_args(hint) if typing.get_origin(hint) in (Union, types.UnionType) else (hint,)
        optional = type(None) in arms
        arms = tuple(a for a in arms if a is not type(None))
        if len(arms) != 1:
            return None
        tp = arms[0]
    return optional if tp is str else None


def parse_overrides(overrides: Sequence[str]) -> dict[str, Any]:
    """`["--training.learning_rate=1e-4", "--method.name", "lora"]` -> nested dict of YAML-parsed values."""
    tree: dict[str, Any] = {}
    items = list(overrides)
    i = 0
    while i < len(items):
        item = items[i]
        if not item.startswith("--") or len(item) < 3:
            raise ConfigError(f"Cannot read the override {_show(item)}; write it as --section.key=value.")
        body = item[2:]
        if "=" in body:
            key, text = body.split("=", 1)
        elif i + 1 < len(items) and not items[i + 1].startswith("--"):
            key, text = body, items[i + 1]
            i += 1
        else:
            raise ConfigError(f"The override --{body} has no value; write it as --{body}=VALUE.")
        parts = key.split(".")
        if any(not p for p in parts):
            raise ConfigError(f"The override key {key!r} is malformed; write it as --section.key=value.")
        optional = _string_field(parts)
        if optional is not None and not (optional and text in ("null", "~")):
            value = text  # a string field takes the text as typed
        else:
            try:
                value = yaml.load(text, Loader=_Loader) if text != "" else ""
            except (yaml.YAMLError, ValueError, RecursionError):  # constructors raise ValueError ('!!int x')
                value = text
        node = tree
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"The override --{key} conflicts with another override of `{p}`.")
        node[parts[-1]] = value
        i += 1
    return tree


def merge_tree(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in top.items():
        out[k] = merge_tree(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), Mapping) else v
    return out


def config_from_dict(data: Any, overrides: Sequence[str] = ()) -> RunConfig:
    """Build and validate a `RunConfig` from plain data (a parsed YAML tree) and CLI overrides."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"The config must be a mapping of sections (task, model, data, ...), got {type(data).__name__}."
        )
    data = merge_tree({_key(k): v for k, v in data.items()}, parse_overrides(overrides))
    config = _build(RunConfig, data, "")
    validate(config)
    return config


def data_config_from_dict(data: Mapping[str, Any]) -> DataConfig:
    """The `data:` section alone (evaluation reads data without a model or a training recipe)."""
    return _build(DataConfig, {_key(k): v for k, v in data.items()}, "data")


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> RunConfig:
    """Read a YAML recipe, apply `--section.key=value` overrides, validate, and name the run after the file
    (or after its data, model and method when the overrides replaced them: `default_run_name`). The
    recipe's relative paths start from its folder (`fieldtune.config.recipe_paths`)."""
    from fieldtune.config.recipe_paths import resolve_recipe_paths

    config = config_from_dict(resolve_recipe_paths(read_recipe(path), Path(path)), overrides)
    config.name = config.name or default_run_name(path, config, parse_overrides(overrides))
    return config


def read_recipe(path: str | Path) -> dict[str, Any] | None:
    """A YAML recipe's data as written (no overrides, not validated), with one-line errors naming the file."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"Config file {path} is a folder; pass the path of a YAML recipe (see configs/).")
    if not path.is_file():
        raise ConfigError(
            f"Config file {path} does not exist; pass the path of a YAML recipe (see configs/)."
        )
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(
            f"Config file {path} is not UTF-8 text (invalid byte at offset {e.start}); re-save it as UTF-8."
        ) from None
    except OSError as e:
        raise ConfigError(f"Cannot read config file {path} ({e.strerror}); check its permissions.") from None
    try:
        data = yaml.load(text, Loader=_Loader)
    except (yaml.YAMLError, ValueError, RecursionError) as e:
        where = getattr(e, "problem_mark", None)
        line = f" (line {where.line + 1})" if where else ""
        problem = getattr(e, "problem", None) or (str(e) if isinstance(e, ValueError) else "")
        detail = f": {' '.join(str(problem).split())[:120]}" if problem else ""
        fix = "keep one of them" if "duplicate key" in detail else "check its indentation and quoting"
        raise ConfigError(f"Config file {path} is not valid YAML{line}{detail}; {fix}.") from None
    if data is not None and not isinstance(data, Mapping):
        raise ConfigError(
            f"Config file {path} holds a {type(data).__name__}, not a mapping of sections; write it as "
            "`task: ...`, `model: {...}`, `data: {...}` (see configs/)."
        )
    return data


def save_config(config: RunConfig, path: Path, inputs: Modality | None = None) -> None:
    """Write the effective config as YAML (the run's `config.yaml`), without keys `inputs` never reads,
    local paths absolute: the run is read from any working folder."""
    from fieldtune.config.recipe_paths import with_absolute_paths
    from fieldtune.rundir.layout import atomic_write_text

    data = with_absolute_paths(for_modality(config.to_dict(), inputs))
    atomic_write_text(path, yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
