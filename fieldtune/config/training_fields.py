"""The fields of `transformers.TrainingArguments`, read from its source file without importing it.

Importing `TrainingArguments` imports torch (2-10 s), and config validation needs only the field names
(and which take a string), so a misspelt `training:` key is reported before anything heavy loads. The
source is parsed with `ast` (~20 ms); if its layout ever changes so that no field is found, the class is
imported instead (slow, but right).
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import importlib.util
from enum import Enum
from pathlib import Path


@dataclasses.dataclass(frozen=True)
class TrainingField:
    name: str
    init: bool
    string_default: bool  # the default is a string or an Enum member (`save_strategy: "steps"`)


def _from_source(path: Path) -> dict[str, TrainingField]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    cls = next((n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "TrainingArguments"), None)
    fields: dict[str, TrainingField] = {}
    if cls is None:
        return fields
    # class-level names used as defaults (`default_optim = "adamw_torch"`, also set inside an `if`)
    strings = {
        t.id
        for n in ast.walk(cls)
        if isinstance(n, ast.Assign) and isinstance(n.value, ast.Constant) and isinstance(n.value.value, str)
        for t in n.targets
        if isinstance(t, ast.Name)
    }
    for node in cls.body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        default, init = node.value, True
        if isinstance(default, ast.Call) and getattr(default.func, "id", None) == "field":
            keywords = {k.arg: k.value for k in default.keywords}
            init_kw = keywords.get("init")
            init = not (isinstance(init_kw, ast.Constant) and init_kw.value is False)
            default = keywords.get("default")
        is_string = (isinstance(default, ast.Constant) and isinstance(default.value, str)) or (
            isinstance(default, ast.Name) and default.id in strings
        )
        # `IntervalStrategy.STEPS`: an Enum member (the only attribute-valued defaults in the class)
        fields[node.target.id] = TrainingField(
            node.target.id, init, is_string or isinstance(default, ast.Attribute)
        )
    return fields


def _from_class() -> dict[str, TrainingField]:
    from transformers import TrainingArguments

    return {
        f.name: TrainingField(f.name, f.init, isinstance(f.default, str | Enum))
        for f in dataclasses.fields(TrainingArguments)
    }


@functools.cache
def training_fields() -> dict[str, TrainingField]:
    """Every `TrainingArguments` field by name, for the installed transformers."""
    spec = importlib.util.find_spec("transformers")  # a top-level package: found, not imported
    if spec is not None and spec.origin:
        source = Path(spec.origin).parent / "training_args.py"
        try:
            fields = _from_source(source)
        except (OSError, SyntaxError, UnicodeDecodeError):
            fields = {}
        if fields:
            return fields
    return _from_class()
