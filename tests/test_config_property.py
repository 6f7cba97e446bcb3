"""Property test of the config loader: whatever tree and overrides a user writes, the answer is a `RunConfig` or a
one-line `FieldtuneError`, never another exception (a traceback)."""

from __future__ import annotations

import dataclasses
import tempfile
import types
import typing
from pathlib import Path

import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from fieldtune.config import (
    DataConfig,
    HubConfig,
    MethodConfig,
    ModelConfig,
    RunConfig,
    TrainingConfig,
    config_from_dict,
    load_config,
)
from fieldtune.errors import FieldtuneError

SECTIONS = {
    "model": ModelConfig,
    "data": DataConfig,
    "method": MethodConfig,
    "training": TrainingConfig,
    "hub": HubConfig,
}
TOP_KEYS = [f.name for f in dataclasses.fields(RunConfig) if f.name not in SECTIONS]
SECTION_KEYS = {name: [f.name for f in dataclasses.fields(cls)] for name, cls in SECTIONS.items()}
SECTION_KEYS["data"] += ["augment"]
AUGMENT_KEYS = [f.name for f in dataclasses.fields(typing.get_type_hints(DataConfig)["augment"])]
TRAINING_PASSTHROUGH = [
    "max_steps",
    "lr_scheduler_type",
    "logging_steps",
    "eval_strategy",
    "optim",
    "max_grad_norm",
]
DOTTED = (
    TOP_KEYS
    + [f"{s}.{k}" for s, keys in SECTION_KEYS.items() for k in keys]
    + [f"training.{k}" for k in TRAINING_PASSTHROUGH]
    + [f"data.augment.{k}" for k in AUGMENT_KEYS]
    + ["hub.token", "training.output_dir", "training.extra.x", "model.name_or_path.x", "nope.key", "task.x"]
)

# Values a user plausibly writes (so that trees get past single fields and into `validate`), and some that are not.
PLAUSIBLE = st.sampled_from([
    "text-classification", "text-regression", "image-classification", "lora", "full", "freeze", "probe",
    "probe_unfreeze", "balanced", "auto", "bf16", "mlp", "linear", "bert-base-uncased", "org/name", "a/b/c", "bad id",
    "", ".", "..", "x/y", "runs", "text_table", "image_folder", "logistics_demand", "note", "1e-4", "0.2", "3", "-1",
    "true", "nan", "inf", "2024-13-45", "[q_proj]", "\u00e9t\u00e9", "\U0001f69a",
])  # fmt: skip
# Past 4300 digits an int cannot even be printed (`sys.get_int_max_str_digits`), so built lazily, not listed.
HUGE_INTS = st.sampled_from([2**63, -(2**63) - 1, 10**30, 10**400, -(10**400)]) | st.integers(4301, 5000).map(
    lambda digits: 10**digits
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | HUGE_INTS
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | PLAUSIBLE
)
KEYS = st.text(max_size=8) | st.integers(min_value=-5, max_value=10**20) | st.none() | st.booleans()
TREES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=4),
    max_leaves=12,
)


def _typed(tp: object) -> st.SearchStrategy:
    """Values of the annotated type (so that many trees make it through every field and into `validate`)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Literal:
        return st.sampled_from(args)
    if origin in (typing.Union, types.UnionType):
        return st.one_of([_typed(a) for a in args if a is not type(None)] + [st.none()])
    if origin is list:
        return st.lists(st.text(max_size=8) | PLAUSIBLE, max_size=3) | PLAUSIBLE
    if dataclasses.is_dataclass(tp):
        return _fields(tp)
    if tp is bool:
        return st.booleans()
    if tp is int:
        return st.integers(1, 10_000) | st.sampled_from(["2", "16"])
    if tp is float:
        return st.floats(1e-6, 0.4) | st.sampled_from([0.25, "1e-4", "0.1", 1])
    if tp is str:
        return PLAUSIBLE | st.text(min_size=1, max_size=10)
    return SCALARS | TREES  # Any, dict


def _fields(cls: type) -> st.SearchStrategy:
    """A section of `cls`: each field present or not, mostly well typed, sometimes anything."""
    hints = typing.get_type_hints(cls)
    optional = {}
    for f in dataclasses.fields(cls):
        if f.name == "extra":
            continue
        optional[f.name] = _typed(hints[f.name])
    if cls is TrainingConfig:
        optional |= {k: st.integers(1, 5) for k in TRAINING_PASSTHROUGH}
    return st.fixed_dictionaries({}, optional=optional)


def _mutate(tree: dict) -> st.SearchStrategy:
    """Set one key, at the top or inside a section, to anything: a known key with an odd value, an unknown key,
    an int / None key, a section replaced by a scalar or a list."""
    sections = st.sampled_from([None, *SECTIONS])

    def put(target: str | None, key: object, value: object) -> dict:
        if target is None:
            return {**tree, key: value}
        section = tree.get(target)
        return {**tree, target: {**(section if isinstance(section, dict) else {}), key: value}}

    def keys(target: str | None) -> st.SearchStrategy:
        known = TOP_KEYS + list(SECTIONS) if target is None else SECTION_KEYS[target]
        return st.sampled_from(known) | KEYS

    return sections.flatmap(lambda target: st.builds(put, st.just(target), keys(target), SCALARS | TREES))


# Config-shaped, well-typed trees (a plausible model name always there, so `validate` runs); the same with one
# or two keys set to anything; and wholly arbitrary trees.
SHAPED = st.fixed_dictionaries(
    {"model": _fields(ModelConfig).map(lambda m: {**m, "name_or_path": "bert-base-uncased"})},
    optional={
        "task": _typed(typing.get_type_hints(RunConfig)["task"]),
        "name": st.none() | PLAUSIBLE,
        "output_dir": PLAUSIBLE,
        **{name: _fields(cls) for name, cls in SECTIONS.items() if name != "model"},
    },
)
CONFIG_TREES = st.one_of(SHAPED, SHAPED.flatmap(_mutate), SHAPED.flatmap(_mutate).flatmap(_mutate), TREES)

OVERRIDE_VALUES = PLAUSIBLE | st.text(max_size=12) | st.sampled_from(
    ["", "null", "~", ".inf", "-.nan", "1e999", "0x1F", "0o17", "1_000", "1:20", "!!int x", "!!float y", "!!binary @@",
     "[1, 2", "{a: 1}", "{a: [}", "- x", "a: b: c", "'unterminated", "&a [*a]", "*nothing", "9" * 5000, "\t"]
)  # fmt: skip
WELL_FORMED = st.sampled_from([
    "--training.learning_rate=1e-4", "--method.name=lora", "--model.max_length=64", "--data.test_size=0.1",
    "--training.max_steps=3", "--name=my-run", "--data.text_columns=[note, sku]", "--hub.private=true",
    "--data.seed", "7", "--training.num_train_epochs=2.5", "--method.target_modules=query",
])  # fmt: skip
ANY_OVERRIDES = st.lists(
    st.one_of(
        st.builds(lambda k, v: f"--{k}={v}", st.sampled_from(DOTTED), OVERRIDE_VALUES),
        st.builds(lambda k: f"--{k}", st.sampled_from(DOTTED)),  # no value: the next item may become it
        st.sampled_from(
            ["--", "-x", "--=1", "--.a=1", "--a..b=1", "--a.=1", "x=1", "--model=1", "--model.x.y=2"]
        ),
        st.text(max_size=10),
        st.builds(lambda k: f"--{k}=1", st.text(max_size=10)),
    ),
    max_size=5,
)
OVERRIDES = st.one_of(
    st.just([]), st.lists(WELL_FORMED, max_size=3), st.lists(WELL_FORMED, max_size=2), ANY_OVERRIDES
)


def _outcome(call: typing.Callable[[], RunConfig]) -> RunConfig | None:
    try:
        config = call()
    except FieldtuneError as e:
        assert "\n" not in str(e) and str(e)
        return None
    assert isinstance(config, RunConfig)
    return config


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=CONFIG_TREES, overrides=OVERRIDES)
def test_config_from_dict_never_crashes(data, overrides):
    config = _outcome(lambda: config_from_dict(data, overrides))
    if config is not None:  # what `config.yaml` in the run holds loads back to the same config
        saved = yaml.safe_dump(config.to_dict(), sort_keys=False)
        again = _outcome(lambda: config_from_dict(yaml.safe_load(saved)))
        assert again is not None and yaml.safe_dump(again.to_dict(), sort_keys=False) == saved


def _dumpable(tree: object) -> str | None:
    try:
        text = yaml.safe_dump(tree, allow_unicode=True, sort_keys=False)
        text.encode("utf-8")
    except (ValueError, UnicodeEncodeError, yaml.YAMLError):  # ints past 4300 digits, lone surrogates
        return None
    return text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=CONFIG_TREES, overrides=OVERRIDES)
def test_load_config_never_crashes(data, overrides):
    text = _dumpable(data)
    assume(text is not None)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "recipe.yaml"
        path.write_text(text, encoding="utf-8")
        config = _outcome(lambda: load_config(path, overrides))
    if config is not None:
        assert config.name is not None


@settings(max_examples=100, deadline=None)
@given(raw=st.binary(max_size=64) | st.text(max_size=40).map(lambda s: s.encode("utf-8", "surrogatepass")))
def test_load_config_of_arbitrary_bytes(raw):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "recipe.yaml"
        path.write_bytes(raw)
        _outcome(lambda: load_config(path))


def test_date_like_values_stay_strings(tmp_path):
    path = tmp_path / "dated.yaml"
    path.write_text("name: 2024-05-01\nmodel: {name_or_path: bert-base-uncased}\n")
    assert load_config(path, ["--output_dir=2024-13-45"]).name == "2024-05-01"
    assert load_config(path, ["--output_dir=2024-13-45"]).output_dir == "2024-13-45"
