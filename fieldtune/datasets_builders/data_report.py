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
