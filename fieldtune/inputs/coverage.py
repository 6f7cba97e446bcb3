"""Does the tokenizer read this text? The unknown-token rate and the truncated share of training texts.

A model whose vocabulary lacks the data's script trains "fine" on rows of `[UNK]` (an English vocabulary
turns most Chinese characters into it) and learns only from the few tokens it knows. Measured on a sample
of the training texts before the model loads; above `data.max_unknown_rate` the run stops in one line,
unless `data.allow_unknown_tokens` makes it a warning. Both figures go into eval_results.json and the card
(the truncated texts of every split are counted in a warning when they are tokenised, `inputs/text.py`).
`predict` and `evaluate` measure the texts they are given the same way and warn in one line.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fieldtune.config import DataConfig
from fieldtune.errors import ModelError

logger = logging.getLogger(__name__)

SAMPLE = 1000  # training texts measured: the rate is stable well before, and it costs a fraction of a second
MODELS_HINT = (
    "a model for the data's language (Chinese: bert-base-chinese or hfl/chinese-roberta-wwm-ext; "
    "mixed Chinese / English: bert-base-multilingual-cased)"
)


def sample_evenly(texts: Sequence[str], n: int = SAMPLE) -> list[str]:
    """Evenly spaced texts (a sorted file's first rows can all be one kind)."""
    step = max(1, len(texts) // n)
    return [texts[i] for i in range(0, len(texts), step)][:n]  # any sequence: a list, a datasets Column


# Writing systems by Unicode block: what the card says the training text (and so the model) covers.
SCRIPTS = (
    ("Han", ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x2FA1F))),
    ("Kana", ((0x3040, 0x30FF), (0x31F0, 0x31FF))),
    ("Hangul", ((0xAC00, 0xD7AF), (0x1100, 0x11FF))),
    ("Cyrillic", ((0x0400, 0x04FF),)),
    ("Arabic", ((0x0600, 0x06FF),)),
    ("Latin", ((0x0041, 0x005A), (0x0061, 0x007A), (0x00C0, 0x024F))),
)


def script_shares(texts: Sequence[str]) -> dict[str, float]:
    """Share of the letters in each writing system (those at 1% or more), largest first."""
    counts = dict.fromkeys((name for name, _ in SCRIPTS), 0)
    for text in texts:
        for ch in text:
            code = ord(ch)
            for name, ranges in SCRIPTS:
                if any(lo <= code <= hi for lo, hi in ranges):
                    counts[name] += 1
                    break
    total = sum(counts.values())
    shares = {k: round(v / total, 3) for k, v in counts.items() if total and v / total >= 0.01}
    return dict(sorted(shares.items(), key=lambda kv: -kv[1]))


def measure_coverage(tokenizer: Any, texts: Sequence[str], limit: int) -> dict[str, Any]:
    """Unknown-token rate (of the non-special tokens), truncated share at `limit`, and an example text."""
    sample = sample_evenly(texts)
    unk_id = getattr(tokenizer, "unk_token_id", None)
    # no truncation: the lengths are what decides the truncated share; `verbose=False` silences the
    # "sequence longer than the model's maximum" warning this sample would trigger
    enc = tokenizer(sample, add_special_tokens=True, truncation=False, verbose=False)
    special = set(getattr(tokenizer, "all_special_ids", []) or []) - {unk_id}
    tokens = unknown = truncated = 0
    example, worst = None, 0.0
    for text, ids in zip(sample, enc["input_ids"], strict=True):
        body = [i for i in ids if i not in special]
        n_unk = sum(i == unk_id for i in body) if unk_id is not None else 0
        tokens, unknown, truncated = tokens + len(body), unknown + n_unk, truncated + (len(ids) > limit)
        if body and n_unk / len(body) > worst:
            example, worst = text, n_unk / len(body)
    return {
        "sample_texts": len(sample),
        "unknown_token": getattr(tokenizer, "unk_token", None),
        "unknown_rate": round(unknown / tokens, 4) if tokens and unk_id is not None else None,
        "truncated_share": round(truncated / len(sample), 4) if sample else 0.0,
        "max_length": limit,
        "example": example[:60] if example else None,
        "scripts": script_shares(sample),
    }


def check_coverage(
    tokenizer: Any, texts: Sequence[str], limit: int, data: DataConfig, model_name: str
) -> dict[str, Any]:
    """Measure, then stop (or warn, with `data.allow_unknown_tokens`) when the unknown rate is too high;
    the figures to record (without the example text)."""
    found = measure_coverage(tokenizer, texts, limit)
    rate = found["unknown_rate"]
    if rate is not None and rate > data.max_unknown_rate:
        message = (
            f"{rate:.0%} of the tokens of {found['sample_texts']} training texts are unknown "
            f"({found['unknown_token']}) to the tokenizer of {model_name} (e.g. {found['example']!r}; "
            f"`data.max_unknown_rate` is {data.max_unknown_rate:.0%}): it cannot read this text; use "
            f"{MODELS_HINT}"
        )
        if not data.allow_unknown_tokens:
            raise ModelError(f"{message}, or set `data.allow_unknown_tokens: true` to train anyway.")
        logger.warning("%s (training anyway: `data.allow_unknown_tokens` is true).", message)
    # the example is a training text: it goes into the message, not into results that get pushed
    return {k: v for k, v in found.items() if k != "example"}


def warn_coverage(tokenizer: Any, texts: Sequence[str], limit: int, model_name: str) -> dict[str, Any] | None:
    """predict / evaluate: training's measurement on the texts a trained model is given, as one warning line
    (not an error: the model exists, but its answers on texts it cannot read, or sees cut, deserve doubt).
    The figures, or None when the model reads no tokens (a TF-IDF baseline)."""
    from transformers import PreTrainedTokenizerBase

    if not isinstance(tokenizer, PreTrainedTokenizerBase) or not len(texts):
        return None
    found = measure_coverage(tokenizer, texts, limit)
    n, rate = found["sample_texts"], found["unknown_rate"]
    problems = []
    if rate is not None and rate > DataConfig.max_unknown_rate:  # training's default threshold
        problems.append(
            f"{rate:.0%} of the tokens of {n} texts are unknown ({found['unknown_token']}) to the tokenizer of "
            f"{model_name} (e.g. {found['example']!r}), so its answers on them are unreliable; use {MODELS_HINT}"
        )
    cut = round(found["truncated_share"] * n)
    if cut:
        problems.append(
            f"{cut} of {n} texts were longer than {limit} tokens and were truncated (the model sees their "
            "beginnings only)"
        )
    if problems:
        logger.warning("Tokenizer coverage: %s.", "; ".join(problems))
    return found
