"""`model.pooling`: what the head of a text classifier reads.

`cls` (and the default, unset) is the architecture's own head, from the first token; `mean` is the masked
mean of the last hidden states (`fieldtune.modeling.mean_pooled`, a custom-code model when saved); `auto`
is what a sentence-transformers checkpoint says it was trained with (`modules.json` -> its Pooling module's
`config.json`), else the architecture's own head. Importing this module registers the mean-pooled classes
with transformers' Auto classes, so fieldtune's loaders build them from fieldtune's own code (never from
the copy in a model folder) and need no `trust_remote_code`.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from torch import nn
from transformers import AutoConfig, AutoModelForSequenceClassification

from fieldtune.modeling.mean_pooled import MeanPooledConfig, MeanPooledForSequenceClassification

logger = logging.getLogger(__name__)

AutoConfig.register(MeanPooledConfig.model_type, MeanPooledConfig, exist_ok=True)
AutoModelForSequenceClassification.register(
    MeanPooledConfig, MeanPooledForSequenceClassification, exist_ok=True
)
# save_pretrained writes `auto_map` and copies mean_pooled.py beside the weights (plain transformers' door)
MeanPooledConfig.register_for_auto_class()
MeanPooledForSequenceClassification.register_for_auto_class("AutoModelForSequenceClassification")

ST_MODES = {"pooling_mode_mean_tokens": "mean", "pooling_mode_cls_token": "cls"}


def _checkpoint_file(name_or_path: str, filename: str, revision: str | None) -> Path | None:
    """A file of a local folder or a Hub checkpoint (cached, or fetched as its weights are); None if absent."""
    folder = Path(name_or_path).expanduser()
    if folder.is_dir():
        return folder / filename if (folder / filename).is_file() else None
    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(name_or_path, filename, revision=revision))
    except Exception:  # noqa: BLE001 - not there (or not cached offline): the checkpoint does not say
        return None


def checkpoint_pooling(name_or_path: str, revision: str | None = None) -> str | None:
    """`mean` / `cls` as a sentence-transformers checkpoint's Pooling module says; None when it has none
    or pools otherwise (max, weighted, ...)."""
    modules_file = _checkpoint_file(name_or_path, "modules.json", revision)
    try:
        modules = json.loads(modules_file.read_text()) if modules_file else []
        pooling = next(m for m in modules if str(m.get("type", "")).endswith("Pooling"))
    except (OSError, ValueError, StopIteration, AttributeError):
        return None
    config_file = _checkpoint_file(
        name_or_path, f"{pooling.get('path', '')}/config.json".lstrip("/"), revision
    )
    try:
        modes = json.loads(config_file.read_text()) if config_file else {}
    except (OSError, ValueError):
        return None
    chosen = [ST_MODES.get(k) for k, on in modes.items() if on is True and k.startswith("pooling_mode_")]
    return chosen[0] if len(chosen) == 1 else None


def resolve_pooling(pooling: str | None, name_or_path: str, revision: str | None = None) -> str:
    """`mean`, or `cls` for the architecture's own head."""
    if pooling == "auto":
        found = checkpoint_pooling(name_or_path, revision) or "cls"
        logger.info("model.pooling auto: %s (%s)", found, name_or_path)
        return found
    return pooling or "cls"


def mean_pooled(model: nn.Module) -> MeanPooledForSequenceClassification:
    """The classifier `create_model` loaded, its backbone (weights kept) under a mean-pooled head."""
    backbone = model.base_model
    config = MeanPooledConfig(
        backbone=backbone.config.to_dict(),
        classifier_dropout=_dropout_of(backbone.config),
        id2label=dict(model.config.id2label),
        label2id=dict(model.config.label2id),
        problem_type=model.config.problem_type,
    )
    model = MeanPooledForSequenceClassification(config, backbone=backbone)
    # what the backbone runs (the run records it), not the wrapper's default: it has no attention of its own
    model.config._attn_implementation = backbone.config._attn_implementation
    return model


def mean_pooled_base(base: str, config: MeanPooledConfig) -> MeanPooledForSequenceClassification:
    """A LoRA adapter's base model, built as training built it: the checkpoint's own backbone (its
    weights, whatever prefix they are saved under) under the mean-pooled head the adapter's files fill."""
    from transformers import AutoModel

    backbone = AutoModel.from_pretrained(base, config=config.backbone_config())
    return MeanPooledForSequenceClassification(config, backbone=backbone)


def is_mean_pooled(config: Any) -> bool:
    return getattr(config, "model_type", None) == MeanPooledConfig.model_type


def _dropout_of(config: Any) -> float:
    """The dropout the architecture's own head would use (BERT: `classifier_dropout` or hidden dropout)."""
    for key in ("classifier_dropout", "hidden_dropout_prob", "seq_classif_dropout", "dropout"):
        value = getattr(config, key, None)
        if isinstance(value, (int, float)):
            return float(value)
    return 0.1
