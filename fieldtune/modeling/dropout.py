"""The backbone's dropout: `model.dropout` sets it, and R-Drop asks whether a model has any."""

from __future__ import annotations

from typing import Any

from torch import nn

from fieldtune.errors import ModelError

# Where configs keep the backbone's dropout: BERT / RoBERTa / ViT, then DistilBERT-style.
DROPOUT_KEYS = (("hidden_dropout_prob", "attention_probs_dropout_prob"), ("dropout", "attention_dropout"))


def set_backbone_dropout(config: Any, p: float) -> None:
    """`model.dropout`: the backbone's dropout on hidden states and attention probabilities."""
    keys = next((pair for pair in DROPOUT_KEYS if hasattr(config, pair[0])), None)
    if keys is None:
        raise ModelError(
            f"`model.dropout`: a {config.model_type} model has no backbone dropout "
            f"({' / '.join(k for k, _ in DROPOUT_KEYS)} in its config); remove the key."
        )
    for key in keys:
        if hasattr(config, key):
            setattr(config, key, p)


def has_dropout(model: nn.Module) -> bool:
    """Whether training draws dropout masks: a dropout module with p > 0, or a dropout probability in the
    config (attention kernels take it as a number, not as a module)."""
    from torch.nn.modules.dropout import _DropoutNd

    if any(isinstance(m, _DropoutNd) and m.p > 0 for m in model.modules()):
        return True
    config = getattr(model, "config", None)
    return any(float(getattr(config, key, 0) or 0) > 0 for pair in DROPOUT_KEYS for key in pair)
