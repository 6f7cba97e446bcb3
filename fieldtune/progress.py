"""Progress of long steps: tqdm bars on a terminal, plain periodic log lines elsewhere, nothing with --quiet.

One switch for every long step (image decoding, tokenisation, feature extraction, training, evaluation,
predict, benchmark evaluation), so they agree:

- `bar`: stderr is a terminal. tqdm bars with rate and ETA; training and evaluation use the Trainer's own
  (`disable_tqdm=False`).
- `log`: stderr is a file or a pipe (CI, `nohup`, `> train.log`). One log line when a step starts, one
  every `LOG_EVERY_S` seconds, one when it ends, each with count, rate and ETA; no carriage returns.
- `off`: `fieldtune --quiet`, and processes other than the main one of a multi-process run.

Example:
    >>> from fieldtune import progress
    >>> with progress.bar(total=len(texts), desc="Tokenising train", unit="text") as pbar:
    ...     for chunk in chunks:
    ...         pbar.update(len(chunk))
"""

from __future__ import annotations

import io
import logging
import os
import sys
from collections.abc import Iterable, Iterator
from typing import Any, Literal

from tqdm.auto import tqdm

logger = logging.getLogger("fieldtune.progress")

Mode = Literal["bar", "log", "off"]
LOG_EVERY_S = 30.0  # between two log lines of one step
_quiet = False


def set_quiet(quiet: bool) -> None:
    """`fieldtune --quiet`: no bars and no progress lines."""
    global _quiet
    _quiet = quiet


def mode() -> Mode:
    """How progress is shown right now (decided per call: a test or a library user may redirect stderr)."""
    rank = os.environ.get("RANK") or os.environ.get("LOCAL_RANK") or "0"
    if _quiet or rank != "0":
        return "off"
    isatty = getattr(sys.stderr, "isatty", None)
    return "bar" if isatty is not None and isatty() else "log"


class _LogLines(tqdm):
    """tqdm's counting, rate and ETA, written as log lines instead of a redrawn bar. tqdm itself calls
    `display` at the start, then at most every `mininterval` seconds, and at `close()`."""

    def display(self, msg: str | None = None, pos: int | None = None) -> bool:
        logger.info(self.format_meter(**self.format_dict))
        return True


_LOG_FORMAT = "{desc}: {n_fmt}/{total_fmt} ({percentage:3.0f}%) [{elapsed}<{remaining}, {rate_fmt}]"
_LOG_FORMAT_NO_TOTAL = "{desc}: {n_fmt} [{elapsed}, {rate_fmt}]"


def bar(
    iterable: Iterable | None = None,
    total: int | None = None,
    desc: str = "",
    unit: str = "it",
    **kwargs: Any,
) -> tqdm:
    """A tqdm progress bar for one step, shown as the current `mode()` says.

    Args:
        iterable (`Iterable`, *optional*): wrapped as `tqdm(iterable)` does; or call `update(n)` yourself.
        total (`int`, *optional*): expected count (defaults to `len(iterable)` where it has one).
        desc (`str`): what the step is, e.g. "Decoding train images".
        unit (`str`, *optional*, defaults to `"it"`): what is counted ("img", "text", "model").

    Returns:
        `tqdm`: disabled when the mode is `off`.
    """
    current = mode()
    if current == "bar":
        return tqdm(iterable, total=total, desc=desc, unit=unit, dynamic_ncols=True, **kwargs)
    if current == "log":
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        fmt = _LOG_FORMAT if total else _LOG_FORMAT_NO_TOTAL
        return _LogLines(
            iterable,
            total=total,
            desc=desc,
            unit=unit,
            mininterval=LOG_EVERY_S,
            maxinterval=LOG_EVERY_S,
            bar_format=fmt,
            file=io.StringIO(),  # tqdm's own writes (the final newline) go nowhere
            **kwargs,
        )
    return tqdm(iterable, total=total, desc=desc, unit=unit, disable=True, **kwargs)


class LazyBar:
    """A `bar` made on the first `update`: a step served from a cache (a `datasets.map` that loads its
    cache file never calls the function) shows nothing."""

    def __init__(self, total: int | None, desc: str, unit: str = "it") -> None:
        self.total, self.desc, self.unit = total, desc, unit
        self._bar: tqdm | None = None

    def update(self, n: int = 1) -> None:
        if self._bar is None:
            self._bar = bar(total=self.total, desc=self.desc, unit=self.unit)
        self._bar.update(n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> LazyBar:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class Batches:
    """An iterator of batches (dicts of tensors) that knows how many examples it holds: a bar's total."""

    def __init__(self, batches: Iterable[dict], examples: int) -> None:
        self._batches, self.examples = iter(batches), examples

    def __iter__(self) -> Iterator[dict]:
        return self

    def __next__(self) -> dict:
        return next(self._batches)
