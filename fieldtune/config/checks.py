"""The schema's field helper (`_f`: default, help text, check) and the checks its fields name."""

from __future__ import annotations

from dataclasses import field
from typing import Any

from fieldtune.config.value_checks import EXAMPLES as CODEC_EXAMPLES
from fieldtune.config.value_checks import codec_problem


def _f(default: Any = None, help: str = "", factory: Any = None, check: Any = None) -> Any:
    meta = {"help": help, "check": check}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


def _positive(v: Any) -> str | None:
    return None if v is None or v > 0 else "must be > 0"


# the encoders fieldtune tunes add two special tokens to a text ([CLS] x [SEP], <s> x </s>)
MIN_MAX_LENGTH = 3


def _max_length(v: Any) -> str | None:  # fewer: every text truncated to nothing, or the tokenizer's own error
    ok = v is None or v >= MIN_MAX_LENGTH
    return None if ok else f"must be at least {MIN_MAX_LENGTH} (two special tokens and one token of text)"


def _names(v: Any) -> str | None:  # an empty list would silently mean "the default targets" to peft's caller
    return (
        "names no module; leave it out for the per-architecture default, or use `method.name: probe` to "
        "train the head only"
        if v is not None and not v
        else None
    )


def _non_negative(v: Any) -> str | None:
    return None if v is None or v >= 0 else "must be >= 0"


def _seed(v: Any) -> str | None:  # numpy's seeds: what `set_seed` and the splits accept
    return None if v is None or 0 <= v < 2**32 else "must be a whole number from 0 to 2**32 - 1"


def _not_blank(v: Any) -> str | None:  # a tab is a separator; an empty string (YAML's bare `|`) is none
    return None if v is None or str(v).strip(" ") else 'must be a non-blank separator: ; or "|" (quoted)'


def _codec(v: Any) -> str | None:
    problem = None if v is None else codec_problem(v)
    return problem and f"{problem}; use e.g. {CODEC_EXAMPLES}, or leave it out"


def _fraction_inclusive(v: Any) -> str | None:
    return None if v is None or 0 <= v <= 1 else "must be in [0, 1]"


def _fraction(v: Any) -> str | None:
    return None if v is None or 0 <= v < 1 else "must be in [0, 1)"


def _weight(v: Any) -> str | None:
    return None if v == "auto" else _fraction(v)
