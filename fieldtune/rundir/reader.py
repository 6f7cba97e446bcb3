"""`RunDirectory`: the one reader of a finished (or unfinished) run directory.

`evaluate`, `predict`, `export`, `push` and the leaderboard read a run's `config.yaml`, `eval_results.json`
and `model/` through it, so every damaged or missing file fails with the same one-line error naming it.
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Any

from fieldtune.errors import RunDirError, file_system_error
from fieldtune.rundir.layout import INCOMPLETE, is_run_dir

CONFIG_FILE = "config.yaml"
RESULTS_FILE = "eval_results.json"


def read_results_file(path: Path, fix: str) -> dict:
    """A JSON object shaped like `eval_results.json`; `fix` says how to re-create it."""
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise RunDirError(f"{path} cannot be read (not valid JSON); {fix}.") from None
    except OSError as e:
        raise file_system_error(e, path) from None
    if not isinstance(results, dict):
        raise RunDirError(f"{path} is not a fieldtune results file (not a JSON object); {fix}.")
    return results


def read_config_file(path: Path) -> dict:
    """A run's `config.yaml` as plain data, with one-line errors naming it."""
    import yaml

    fix = "restore it or re-train the run"
    try:
        data = yaml.safe_load(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as e:
        raise RunDirError(f"{path} is not UTF-8 text (invalid byte at offset {e.start}); {fix}.") from None
    except (yaml.YAMLError, ValueError, RecursionError):
        raise RunDirError(f"{path} is not valid YAML; {fix}.") from None
    except OSError as e:
        raise file_system_error(e, path) from None
    if data is not None and not isinstance(data, dict):
        raise RunDirError(f"{path} holds a {type(data).__name__}, not a mapping of sections; {fix}.")
    return data or {}


class RunDirectory:
    """A run directory `fieldtune train` wrote: config, results and model folder, each read once."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @classmethod
    def at(cls, ref: str | Path) -> RunDirectory | None:
        """The run directory at `ref`; None when `ref` is something else (a model folder, a Hub id)."""
        path = Path(ref)
        return cls(path) if is_run_dir(path) else None

    @property
    def finished(self) -> bool:
        return not (self.path / INCOMPLETE).exists() and (self.path / RESULTS_FILE).is_file()

    def refuse_unfinished(self) -> RunDirectory:
        """Refuse a run that carries the `.incomplete` marker (its files may be from a run that died)."""
        if (self.path / INCOMPLETE).exists():
            raise RunDirError(
                f"{self.path} is an unfinished run; finish it with `fieldtune train ... --resume`."
            )
        return self

    def require_finished(self) -> RunDirectory:
        self.refuse_unfinished()
        if not (self.path / RESULTS_FILE).is_file():
            raise RunDirError(f"{self.path} has no {RESULTS_FILE}; is it a finished fieldtune run directory?")
        return self

    @cached_property
    def config(self) -> dict[str, Any]:
        """`config.yaml` as plain data (the effective recipe of the run)."""
        return self.read_config()

    def read_config(self) -> dict[str, Any]:
        path = self.path / CONFIG_FILE
        if not path.is_file():
            raise RunDirError(f"{self.path} is not a fieldtune run directory (no {CONFIG_FILE}).")
        return read_config_file(path)

    @property
    def data_section(self) -> dict[str, Any]:
        return dict(self.config.get("data") or {})

    @property
    def text_column(self) -> str | None:
        """The run's one text column, when it trained on exactly one (predict reads the same column)."""
        columns = self.data_section.get("text_columns") or []
        return columns[0] if len(columns) == 1 else None

    @cached_property
    def results(self) -> dict[str, Any]:
        """`eval_results.json` of a finished run."""
        return self.read_results()

    def read_results(self) -> dict[str, Any]:
        self.require_finished()
        return read_results_file(self.path / RESULTS_FILE, "re-run the evaluation to rewrite it")

    def check(self, finished: bool = False) -> RunDirectory:
        """Read what later steps need now, so a damaged file is named before anything heavy loads."""
        self.__dict__["config"] = self.read_config()
        if finished:
            self.__dict__["results"] = self.read_results()
        return self

    @property
    def model_dir(self) -> Path:
        return self.path / "model"
