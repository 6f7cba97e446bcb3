"""Keys only one modality reads: a text run's `config.yaml` (and card) carries no image augmentation, an
image run's no tokenizer settings. The recipe may still hold them (one recipe, several tasks); the saved,
effective config shows what the run used."""

from __future__ import annotations

import copy
from typing import Any

ONLY_FOR = {
    "image": (
        ("data", "image_column"), ("data", "image_size"), ("data", "augment"),
        ("training", "mixup_alpha"), ("training", "cutmix_alpha"),
    ),
    "text": (
        ("model", "max_length"), ("model", "pooling"), ("method", "freeze_embeddings"), ("data", "text_columns"), ("data", "language"),
        ("data", "encoding"), ("data", "normalize"), ("data", "max_unknown_rate"), ("data", "allow_unknown_tokens"),
        ("pretraining", "epochs"), ("pretraining", "learning_rate"), ("pretraining", "mlm_probability"),
        ("pretraining", "extra_texts"), ("pretraining", "extra_texts_column"),
    ),
}  # fmt: skip


def for_modality(config: dict[str, Any], modality: str | None) -> dict[str, Any]:
    """A copy of `config` (`RunConfig.to_dict()`) without the keys of the other modalities."""
    out = copy.deepcopy(config)
    for other, keys in ONLY_FOR.items():
        if modality is not None and other != modality:
            for section, key in keys:
                if isinstance(out.get(section), dict):
                    out[section].pop(key, None)
    return out
