"""The method table: what each way of adapting a model trains, builds and says, and for which inputs.

A `Method` carries what differs between methods: the adapter it builds (`adapter`: a peft config, None:
no adapter), what it leaves trainable (`freezes_backbone`, `top_layers`), its phases (`head_first`,
`caches_features`), what the model card says of it (`card_note`), the inputs it applies to, and whether it
fits the task's classical baseline instead of a transformers model (`fits_baseline`). The flow asks
these: `modeling.create.apply_method`, `trainers.vision`, config validation, the card, `run()`, sweeps
and cross-validation; nothing branches on a method's name. A new method is a row here (plus its adapter
builder, or a trainer phase when it has one). Torch-free: config validation reads it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from fieldtune.errors import ConfigError
from fieldtune.tasks.table import IMAGE, MODALITIES, Modality


def lora_adapter(method: Any, targets: list[str] | str, head: list[str], peft_task_type: str | None) -> Any:
    """peft's LoraConfig from the method section: `targets` wrapped, the head trained fully and saved."""
    from peft import LoraConfig, TaskType

    return LoraConfig(
        r=method.lora_r,
        lora_alpha=method.lora_alpha,
        lora_dropout=method.lora_dropout,
        target_modules=targets,
        modules_to_save=head,
        task_type=TaskType[peft_task_type] if peft_task_type else None,
    )


# (method section, the modules it wraps, the head's module names, the task's peft TaskType name) -> config
AdapterBuilder = Callable[[Any, "list[str] | str", list[str], "str | None"], Any]


@dataclass(frozen=True)
class Method:
    name: str
    trains: Literal["all", "adapter", "top_layers", "head"]  # what is left trainable (the head always is)
    head_first: bool = False  # a head-only phase first, then the top `trainable_layers` join in one run
    inputs: tuple[Modality, ...] = MODALITIES  # the task inputs it applies to
    adapter: AdapterBuilder | None = None  # builds the peft config an adapter method wraps the model with
    # the card's words after the method's name, filled from the run's `method:` section
    card: str = ""
    # the task's classical baseline (`Modality.baseline`) instead of a fine-tuned transformers model
    fits_baseline: bool = False

    @property
    def freezes_backbone(self) -> bool:
        """The backbone starts frozen (only the head, and `top_layers`, train)."""
        return self.trains in ("top_layers", "head")

    def top_layers(self, method: Any) -> int:
        """How many top layers / stages of a frozen backbone train from the start."""
        return method.trainable_layers if self.trains == "top_layers" else 0

    @property
    def caches_features(self) -> bool:
        """Only a head trains, on a backbone frozen throughout: its pooled features can be computed once
        (`method.feature_cache`), so nothing may change the images between epochs (Mixup / CutMix)."""
        return self.trains == "head" and not self.head_first and not self.fits_baseline

    def card_note(self, method: Mapping[str, Any]) -> str:
        """What the model card adds after the method's name (`method`: the run's `method:` section)."""
        return self.card.format_map(_OrNone(method)) if self.card else ""


class _OrNone(dict):
    """A section missing a key the card names (an older run's config.yaml) shows None, as before."""

    def __missing__(self, key: str) -> None:
        return None


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method("full", "all"),
        Method(
            "lora",
            "adapter",
            adapter=lora_adapter,
            card=" (LoRA r={lora_r}, alpha={lora_alpha}; head trained fully)",
        ),
        Method("freeze", "top_layers"),
        Method("probe", "head"),
        Method("probe_unfreeze", "head", head_first=True, inputs=(IMAGE,)),
        # the task's classical baseline (`fieldtune.training.run`'s baseline stage): text fits scikit-learn and
        # builds no transformers model; images run as the `probe` row (a linear head on the frozen backbone)
        Method("baseline", "head", fits_baseline=True),
    )
}


def get_method(name: str) -> Method:
    if name not in METHODS:
        raise ConfigError(f"`method.name`: unknown method {name!r}; choose one of {', '.join(METHODS)}.")
    return METHODS[name]
