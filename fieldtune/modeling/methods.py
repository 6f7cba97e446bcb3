"""The method table: what each way of adapting a model trains, and for which inputs.

`modeling.create.apply_method` reads `trains` to freeze / wrap the model, `trainers.vision` reads
`head_first` (and `trains == "head"` for the feature cache), config validation reads `inputs`; nothing
else branches on a method's name. A new method is a row here plus what its `trains` value needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from fieldtune.errors import ConfigError


@dataclass(frozen=True)
class Method:
    name: str
    trains: Literal["all", "adapter", "top_layers", "head"]  # what is left trainable (the head always is)
    head_first: bool = False  # a head-only phase first, then the top `trainable_layers` join in one run
    inputs: tuple[str, ...] = ("text", "image")  # the task modalities it applies to


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method("full", "all"),
        Method("lora", "adapter"),
        Method("freeze", "top_layers"),
        Method("probe", "head"),
        Method("probe_unfreeze", "head", head_first=True, inputs=("image",)),
        # the task's classical baseline (`fieldtune.run.run_baseline`): text fits scikit-learn and builds no
        # transformers model; images run as the `probe` row (a linear head on the frozen backbone)
        Method("baseline", "head"),
    )
}


def get_method(name: str) -> Method:
    if name not in METHODS:
        raise ConfigError(f"`method.name`: unknown method {name!r}; choose one of {', '.join(METHODS)}.")
    return METHODS[name]
