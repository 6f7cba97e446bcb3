"""Text preprocessing: tokenise once (cached by datasets' fingerprint), pad per batch, never to a fixed length."""

from __future__ import annotations

import logging
from typing import Any

from datasets import DatasetDict

logger = logging.getLogger(__name__)


def load_tokenizer(path: str, revision: str | None = None) -> Any:
    from transformers import AutoTokenizer

    from fieldtune.errors import ModelError

    try:
        return AutoTokenizer.from_pretrained(path, revision=revision)
    except (OSError, ValueError) as e:
        raise ModelError(f"Cannot load a tokenizer from {path!r}: {str(e).splitlines()[0][:160]}") from None


def tokenize_dataset(dd: DatasetDict, tokenizer: Any, max_length: int) -> DatasetDict:
    """Add `input_ids` / `attention_mask` / `length`; truncate to `max_length` and log how many were cut."""
    limit = min(max_length, getattr(tokenizer, "model_max_length", max_length) or max_length)

    def encode(batch: dict) -> dict:
        enc = tokenizer(batch["text"], truncation=True, max_length=limit)
        enc["length"] = [len(ids) for ids in enc["input_ids"]]
        # A text was cut if it filled the limit exactly; checked without tokenising it a second time.
        enc["truncated"] = [n >= limit for n in enc["length"]]
        return enc

    out = dd.map(encode, batched=True, desc="Tokenising")
    for split, ds in out.items():
        cut = sum(ds["truncated"])
        if cut:
            logger.warning(
                "%s: %d of %d texts were longer than %d tokens and were truncated", split, cut, len(ds), limit
            )
    return out.remove_columns(["truncated"])
