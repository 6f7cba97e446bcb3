"""Where `predict` writes: a file that grows chunk by chunk and can be resumed, or stdout.

`--output preds.csv` is written as `preds.csv.partial` while the prediction runs and renamed to
`preds.csv` only when every row is in, so a file under the asked-for name is always complete (an
existing one is replaced only then, with `--overwrite`). After every chunk the partial file is flushed
and fsynced, then `preds.csv.partial.json` (the checkpoint, written atomically) records how many rows and
bytes are committed, the key of the last committed row (its file path, or a digest of its text) and what
the rows were predicted with (model, input, columns). `--resume` cuts the partial file back to the
committed bytes (a torn last line, or rows written after the last checkpoint, are dropped and predicted
again), checks the model, input and columns are the same, and continues after the committed rows: no row
is duplicated or lost.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from fieldtune.errors import DataError, RunDirError, file_system_error
from fieldtune.rundir.layout import write_json

log = logging.getLogger(__name__)
PARTIAL = ".partial"
CHECKPOINT = ".partial.json"
CHECKPOINT_VERSION = 1


def partial_of(out: Path) -> Path:
    return out.with_name(out.name + PARTIAL)


def checkpoint_of(out: Path) -> Path:
    return out.with_name(out.name + CHECKPOINT)


def check_output(out: Path | None, resume: bool, overwrite: bool) -> None:
    """Before the model loads: what is at `out` fits `--resume` / `--overwrite`."""
    if resume and overwrite:
        raise DataError("--resume and --overwrite contradict each other; pass one of them.")
    if out is None:
        if resume:
            raise DataError("--resume needs --output: the prediction file to continue.")
        return
    partial = partial_of(out)
    if resume:
        if not partial.is_file():
            if out.exists():
                raise RunDirError(
                    f"--resume: {out} is already complete, nothing to resume; pass --overwrite to predict "
                    "again or choose another --output."
                )
            raise RunDirError(f"--resume: no interrupted prediction at {partial}; run without --resume.")
        read_checkpoint(out)
    elif not overwrite:
        if partial.exists():
            raise RunDirError(
                f"--output {out}: {partial} holds an interrupted prediction; pass --resume to continue it or "
                "--overwrite to start over."
            )
        if out.exists():
            raise RunDirError(
                f"--output {out} already exists; pass --overwrite to replace it or choose another --output."
            )


def read_checkpoint(out: Path) -> dict:
    checkpoint = checkpoint_of(out)
    try:
        state = json.loads(checkpoint.read_text(encoding="utf-8"))
        if not isinstance(state, dict) or state.get("version") != CHECKPOINT_VERSION:
            raise ValueError
        int(state["rows"]), int(state["bytes"])
    except (OSError, ValueError, KeyError, TypeError):
        raise RunDirError(
            f"--resume: {checkpoint} (the checkpoint of {partial_of(out)}) is missing or unreadable; pass "
            "--overwrite to start over."
        ) from None
    return state


class PredictionFile:
    """A CSV or JSONL prediction file written in committed chunks (see the module docstring).

    Args:
        out (`Path`): the file asked for (`.csv` or `.jsonl`).
        columns (`list[str]`): every row's columns, in order.
        identity (`dict`): what the rows are predicted with; `--resume` refuses a checkpoint that differs.
        resume (`bool`): continue `out.partial` instead of starting a new one.
    """

    def __init__(self, out: Path, columns: list[str], identity: dict, resume: bool) -> None:
        self.out, self.columns, self.identity = out, columns, identity
        self.partial, self.checkpoint = partial_of(out), checkpoint_of(out)
        self.jsonl = out.suffix.lower() == ".jsonl"
        self.rows, self.last_key, self._pending, self._cut = 0, None, 0, False
        self._created = not resume
        self._made = [
            p for p in out.parents if not p.exists()
        ]  # nearest first: gone again if nothing is kept
        try:
            if resume:
                self._reopen(read_checkpoint(out))
            else:
                out.parent.mkdir(parents=True, exist_ok=True)  # as every other output flag's folders are made
                self.partial.unlink(missing_ok=True)  # --overwrite: a stale partial is started over
                self.checkpoint.unlink(missing_ok=True)
                self._file = open(self.partial, "wb")  # noqa: SIM115 (open across calls; closed in finish / abandon)
                if not self.jsonl:
                    self._file.write(csv_header(columns).encode("utf-8"))
                self._bytes = 0
        except OSError as e:
            raise file_system_error(e, self.partial) from None

    def _reopen(self, state: dict) -> None:
        for key, what in (
            ("model", "another model"),
            ("input", "another input"),
            ("test_time", "other test-time views"),
        ):
            if state.get(key) != self.identity.get(key):
                raise DataError(
                    f"--resume: {self.partial} was predicted with {what} ({state.get(key)}, now "
                    f"{self.identity.get(key)}); pass the same model and input, or --overwrite to start over."
                )
        if state.get("columns") != self.columns:
            raise DataError(
                f"--resume: {self.partial} has columns {', '.join(state.get('columns') or [])}, this prediction "
                f"writes {', '.join(self.columns)} (another --top-k or model?); pass --overwrite to start over."
            )
        size = self.partial.stat().st_size
        if size < state["bytes"]:
            raise DataError(
                f"--resume: {self.partial} is shorter ({size} bytes) than its checkpoint says "
                f"({state['bytes']}); it was changed since, pass --overwrite to start over."
            )
        self._file = open(self.partial, "r+b")  # noqa: SIM115
        self._file.seek(state["bytes"])
        self._cut = size > state["bytes"]  # a torn last line, or rows written after the last checkpoint
        if self._cut:
            log.info("%s: dropping %d bytes after its last checkpoint", self.partial, size - state["bytes"])
        self.rows, self._bytes, self.last_key = int(state["rows"]), int(state["bytes"]), state.get("last")

    def write(self, frame: pd.DataFrame, last_key: str) -> None:
        """Append rows (not yet committed: a crash before `commit` loses only them)."""
        frame = frame.reindex(columns=self.columns)
        if self.jsonl:
            text = frame.to_json(orient="records", lines=True, force_ascii=False) if len(frame) else ""
            text = text if not text or text.endswith("\n") else text + "\n"
        else:
            text = frame.to_csv(index=False, header=False, lineterminator="\n")
        try:
            if self._cut:  # at the first write, not on opening: a refused resume leaves the file as it was
                self._file.truncate()
                self._cut = False
            self._file.write(text.encode("utf-8"))
        except OSError as e:
            raise file_system_error(e, self.out) from None
        self._pending += len(frame)
        self.last_key = last_key

    @property
    def pending(self) -> int:
        return self._pending

    def commit(self) -> None:
        """Flush and fsync the rows written so far, then record them in the checkpoint."""
        try:
            if self._cut:  # resumed with nothing left to predict: the torn tail still goes
                self._file.truncate()
                self._cut = False
            self._file.flush()
            os.fsync(self._file.fileno())
            self._bytes = self._file.tell()
            self.rows += self._pending
            self._pending = 0
            state = {
                "version": CHECKPOINT_VERSION,
                "rows": self.rows,
                "bytes": self._bytes,
                "last": self.last_key,
            }
            write_json(self.checkpoint, state | self.identity | {"columns": self.columns})
        except OSError as e:
            raise file_system_error(e, self.out) from None

    def finish(self) -> None:
        """All rows are in: the partial file becomes `out` (replacing an older one), the checkpoint goes."""
        self.commit()
        self._file.close()
        try:
            os.replace(self.partial, self.out)
        except OSError as e:
            raise file_system_error(e, self.out) from None
        self.checkpoint.unlink(missing_ok=True)

    def abandon(self) -> None:
        """The prediction stopped: keep what is committed for `--resume`; a file with nothing in it goes."""
        self._file.close()
        if self._created and self.rows == 0:
            self.partial.unlink(missing_ok=True)
            self.checkpoint.unlink(missing_ok=True)
            for folder in self._made:
                try:
                    folder.rmdir()
                except OSError:
                    break
        elif self.rows:
            log.warning("%d predictions are kept in %s; continue with --resume.", self.rows, self.partial)


class StdoutPredictions:
    """No --output: CSV on stdout, flushed per chunk (nothing to resume)."""

    def __init__(self, columns: list[str]) -> None:
        self.columns, self.rows, self.last_key, self.pending = columns, 0, None, 0
        sys.stdout.write(csv_header(columns))

    def write(self, frame: pd.DataFrame, last_key: str) -> None:
        sys.stdout.write(
            frame.reindex(columns=self.columns).to_csv(index=False, header=False, lineterminator="\n")
        )
        self.pending += len(frame)

    def commit(self) -> None:
        sys.stdout.flush()
        self.rows, self.pending = self.rows + self.pending, 0

    def finish(self) -> None:
        self.commit()

    def abandon(self) -> None:
        sys.stdout.flush()


def csv_header(columns: list[str]) -> str:
    return pd.DataFrame(columns=columns).to_csv(index=False, lineterminator="\n")


def open_predictions(out: Path | None, columns: list[str], identity: dict, resume: bool) -> Any:
    return StdoutPredictions(columns) if out is None else PredictionFile(out, columns, identity, resume)
