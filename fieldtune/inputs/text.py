"""Text preprocessing: tokenise once (cached on disk), pad per batch, never to a fixed length."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from datasets import DatasetDict

from fieldtune import progress

if TYPE_CHECKING:
    from fieldtune.datasets_builders.folds import FoldRows

logger = logging.getLogger(__name__)

# Part of the token cache key: bump when `encode` below changes its output for the same inputs.
TOKENS_VERSION = 1


def load_tokenizer(path: str, revision: str | None = None) -> Any:
    from transformers import AutoTokenizer

    from fieldtune.errors import ModelError

    try:
        return AutoTokenizer.from_pretrained(path, revision=revision)
    except (OSError, ValueError) as e:
        raise ModelError(f"Cannot load a tokenizer from {path!r}: {str(e).splitlines()[0][:160]}") from None


def _tokenizer_key(tokenizer: Any) -> str:
    """What decides the tokens: the fast tokenizer's whole pipeline (normaliser, model, post-processor)
    as JSON, else the tokenizer hashed the way `datasets` hashes a map function's closure."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        pipeline = json.loads(backend.to_str())
        # set by each call (`truncation=True, max_length=...`), not part of the tokenizer: the limit is keyed
        pipeline.pop("truncation", None)
        pipeline.pop("padding", None)
        text = f"{type(tokenizer).__name__}\0{json.dumps(pipeline, sort_keys=True)}"
        return hashlib.sha256(text.encode()).hexdigest()
    from datasets.fingerprint import Hasher

    return Hasher.hash(tokenizer)


def tokens_cache_key(fingerprint: str, tokenizer: Any, limit: int) -> str:
    """Key of one split's token cache file: the data (the dataset's fingerprint: `datasets` derives it from
    the table's content and every transform since), the tokenizer and the length limit."""
    parts = [TOKENS_VERSION, fingerprint, _tokenizer_key(tokenizer), limit]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:32]


def encode_batch(tokenizer: Any, texts: list[str], limit: int) -> dict:
    """Token ids of a batch of texts, their lengths and whether each was cut at `limit`."""
    enc = tokenizer(texts, truncation=True, max_length=limit)
    enc["length"] = [len(ids) for ids in enc["input_ids"]]
    # A text was cut if it filled the limit exactly; checked without tokenising it a second time.
    enc["truncated"] = [n >= limit for n in enc["length"]]
    return enc


def _tokenise(ds: Any, split: str, tokenizer: Any, limit: int, cache_dir: Path, tokens_only: bool) -> Any:
    """One split through `encode_batch`, cached in `cache_dir`; `tokens_only`: only the token columns."""
    key = tokens_cache_key(ds._fingerprint + (":tokens" if tokens_only else ""), tokenizer, limit)
    cache_file = cache_dir / f"tokens-{split}-{key}.arrow"
    if cache_file.exists():
        logger.info("%s: reading tokens from %s", split, cache_file)
    with progress.LazyBar(len(ds), f"Tokenising {split}", unit="text") as pbar:

        def encode(batch: dict) -> dict:
            pbar.update(len(batch["text"]))
            return encode_batch(tokenizer, batch["text"], limit)

        return ds.map(
            encode,
            batched=True,
            remove_columns=ds.column_names if tokens_only else None,
            cache_file_name=str(cache_file),
            load_from_cache_file=True,
            new_fingerprint=key,  # the key already covers what datasets would hash
        )


def tokenize_dataset(
    dd: DatasetDict,
    tokenizer: Any,
    max_length: int,
    cache_dir: Path | None = None,
    pool: FoldRows | None = None,
) -> DatasetDict:
    """Add `input_ids` / `attention_mask` / `length`; truncate to `max_length` and log how many were cut.

    Each split is written to `cache_dir/tokens-<split>-<key>.arrow` (default `$FIELDTUNE_CACHE/tokens`),
    keyed by the data, the tokenizer and the limit, so a second run over the same data reads the tokens
    back. In-memory datasets (a CSV read with pandas, generated data) have no cache of their own in
    `datasets`, so without this every run would tokenise again. `pool` (a cross-validation fold's run):
    the pooled train + validation rows are tokenised once for every fold (`tokens-pool-<key>.arrow`) and
    each split takes its rows' tokens from there, beside its own columns (a fold's standardised targets).
    """
    from datasets import concatenate_datasets

    from fieldtune.datasets_builders.synthetic_images import cache_root

    limit = min(max_length, getattr(tokenizer, "model_max_length", max_length) or max_length)
    cache_dir = Path(cache_dir) if cache_dir is not None else cache_root() / "tokens"
    cache_dir.mkdir(parents=True, exist_ok=True)
    pooled = _tokenise(pool.rows, "pool", tokenizer, limit, cache_dir, True) if pool is not None else None
    out = {}
    for split, ds in dd.items():
        if pool is not None and split in pool.index:
            out[split] = concatenate_datasets([ds, pooled.select(pool.index[split])], axis=1)
        else:
            out[split] = _tokenise(ds, split, tokenizer, limit, cache_dir, False)
    for split, ds in out.items():
        cut = sum(ds["truncated"])
        if cut:
            logger.warning(
                "%s: %d of %d texts were longer than %d tokens and were truncated; raise `model.max_length` "
                "(up to the model's limit) if their ends matter",
                split,
                cut,
                len(ds),
                limit,
            )
    return DatasetDict(out).remove_columns(["truncated"])
