"""Keys only one kind of input reads (`Modality.own_keys`): a text run's `config.yaml` (and card) carries no
image augmentation, an image run's no tokenizer settings. The recipe may still hold them (one recipe, several
tasks); the saved, effective config shows what the run used."""

from __future__ import annotations

import copy
from typing import Any

from fieldtune.tasks.table import MODALITIES, Modality


def for_modality(config: dict[str, Any], inputs: Modality | None) -> dict[str, Any]:
    """A copy of `config` (`RunConfig.to_dict()`) without the keys of the other inputs (None: all kept)."""
    out = copy.deepcopy(config)
    for other in MODALITIES:
        if inputs is not None and other is not inputs:
            for section, key in other.own_keys:
                if isinstance(out.get(section), dict):
                    out[section].pop(key, None)
    return out
