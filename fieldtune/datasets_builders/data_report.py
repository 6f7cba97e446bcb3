"""What reading the data found out, for the run's records: the encoding of each file, the text normalisation
applied (and what it changed), the tokenizer's coverage of the training texts.

`run()` opens a report around data building and preparation; the readers deep inside (a table's decoder,
the normaliser, the coverage check) `note` into the open one, so no builder signature has to carry it.
Nothing is recorded when no report is open (a builder called on its own, in a test or a notebook).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import Any

_current: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("data_report", default=None)


@contextlib.contextmanager
def recording() -> Iterator[dict[str, Any]]:
    """Collect what the data readers note while the block runs into the dict it yields."""
    report: dict[str, Any] = {}
    token = _current.set(report)
    try:
        yield report
    finally:
        _current.reset(token)


def note(key: str, value: Any, within: str | None = None) -> None:
    """Record `value` under `key` (or under `report[within][key]`) in the open report, if any."""
    report = _current.get()
    if report is None:
        return
    if within is not None:
        report = report.setdefault(within, {})
    report[key] = value


def describe(report: dict[str, Any]) -> list[str]:
    """The report as log lines, logged once the data has passed every check (an error stays one line)."""
    lines = []
    encodings = report.get("encodings") or {}
    if encodings:
        lines.append(
            f"Data files read as {', '.join(sorted(set(encodings.values())))} ({len(encodings)} files)"
        )
    norm = report.get("normalization") or {}
    if norm.get("texts_changed"):
        kinds = ", ".join(
            f"{k.replace('_', ' ')}: {v}"
            for k, v in norm.items()
            if k not in ("mode", "setting", "texts_changed")
        )
        lines.append(f"Text normalisation {norm['mode']}: {norm['texts_changed']} texts changed ({kinds})")
    cov = report.get("tokenizer_coverage") or {}
    if cov:
        rate = cov["unknown_rate"]
        unknown = "no unknown token" if rate is None else f"{rate:.2%} unknown tokens"
        lines.append(
            f"Tokenizer coverage on {cov['sample_texts']} training texts: {unknown}, "
            f"{cov['truncated_share']:.1%} over the {cov['max_length']}-token limit"
        )
    return lines
