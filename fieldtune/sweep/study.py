"""The sweep's Optuna study: where it is stored, which sweep a folder holds, and which trial a worker runs.

- Storage: a journal file in the sweep directory by default (`JournalStorage` + `JournalFileBackend`, for
  processes on one host), or `--storage URL` (`sqlite:///sweep.db`, `postgresql://...`, `mysql://...`: an
  `RDBStorage` with heartbeats, for workers on several machines), or `--storage FILE.journal`.
- Grid points are enqueued as waiting trials (`study.enqueue_trial`); a worker claims one through
  `study.ask()`, whose WAITING -> RUNNING change the storage makes atomically, so two workers never get the
  same point. Optuna's `GridSampler` is not used: once every point has started it hands out unfinished
  points again, i.e. runs a point twice when several workers share the study.
- Every trial carries its run directory's name (`run_name`); a retry of a killed trial keeps it, so it
  resumes that run directory from its checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fieldtune.errors import ConfigError, FieldtuneError, RunDirError

logger = logging.getLogger(__name__)

MANIFEST = "sweep.json"
JOURNAL = "study.journal"
RUN_NAME = "run_name"  # trial user attribute: the trial's run directory under the sweep directory
WORKER = "worker"  # trial user attribute: host, pid and process start time of the worker running it
SKIPPED = "skipped"  # trial user attribute: why a claimed trial was not run (a duplicate, one too many)
HEARTBEAT_S, GRACE_S = 30, 120  # RDB storages: a worker silent this long is dead, its trial retried


def require_optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise FieldtuneError("`fieldtune sweep` needs Optuna: pip install 'fieldtune[sweep]'.") from None
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # fieldtune prints one line per trial itself
    return optuna


@dataclass(frozen=True)
class Manifest:
    """What a sweep directory holds: the recipe's effective config and the grid / space it varies."""

    recipe: str
    config: dict[str, Any]
    grid: dict[str, list[Any]] | None
    space: dict[str, dict[str, Any]] | None
    storage: str | None

    @property
    def identity(self) -> str:
        """The same recipe and the same grid / space -> the same study (on any machine)."""
        body = json.dumps([self.config, self.grid, self.space], sort_keys=True, default=str)
        return hashlib.sha256(body.encode()).hexdigest()[:12]

    @property
    def study_name(self) -> str:
        return f"{self.config.get('name') or 'sweep'}-{self.identity}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "recipe": self.recipe, "study_name": self.study_name, "storage": self.storage,
            "config": self.config, "grid": self.grid, "space": self.space,
        }  # fmt: skip


def check_sweep_dir(sweep_dir: Path, manifest: Manifest) -> None:
    """Refuse a folder that holds another sweep (another recipe, grid, space or storage) or other files."""
    from fieldtune.rundir.layout import check_output_path

    check_output_path(sweep_dir, "Sweep directory", kind="folder")
    path = sweep_dir / MANIFEST
    if path.is_file():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise RunDirError(
                f"{path} is not valid JSON; restore it or choose another --output-dir."
            ) from None
        if old.get("study_name") != manifest.study_name:
            changed = next(
                (k for k in ("recipe", "config", "grid", "space") if old.get(k) != manifest.to_dict()[k]),
                "config",
            )
            raise RunDirError(
                f"Sweep directory {sweep_dir} holds another sweep (its {changed} differs: {old.get('recipe')}); "
                "choose another --output-dir, or run its own command again to continue it."
            )
        if old.get("storage") != manifest.storage:
            raise RunDirError(
                f"Sweep directory {sweep_dir} keeps its study in {old.get('storage') or 'its journal file'}; "
                f"pass --storage {old.get('storage')} to continue it." if old.get("storage") else
                f"Sweep directory {sweep_dir} keeps its study in its journal file; drop --storage to continue it."
            )  # fmt: skip
    elif sweep_dir.is_dir() and any(not p.name.startswith(".") for p in sweep_dir.iterdir()):
        # hidden files alone are another process writing this sweep's sweep.json (its temp file) right now
        raise RunDirError(
            f"Sweep directory {sweep_dir} is not empty and holds no sweep ({MANIFEST}); choose another --output-dir."
        )


def write_manifest(sweep_dir: Path, manifest: Manifest) -> None:
    from fieldtune.rundir.layout import write_json

    if not (sweep_dir / MANIFEST).is_file():
        write_json(sweep_dir / MANIFEST, manifest.to_dict())


def check_storage_url(url: str | None) -> None:
    """A URL Optuna cannot open, an in-memory database, or an existing file that is not an Optuna storage
    fails before anything is written (drivers and hosts are tried in `open_storage`)."""
    from fieldtune.sweep.storage_files import check_journal_file, check_sqlite_url

    if url is None:
        return
    if url.endswith(".journal"):
        return check_journal_file(url)  # an existing file must be a journal before a line is appended
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(
            f"--storage {url!r} is not a database URL; use sqlite:///PATH.db, postgresql://HOST/DB or FILE.journal."
        ) from None
    if parsed.get_backend_name() == "sqlite":
        check_sqlite_url(url, parsed)  # in memory, another application's database, not a database


def open_storage(url: str | None, sweep_dir: Path) -> Any:
    """The study's storage; any failure to open it is one line naming the URL."""
    optuna = require_optuna()
    from optuna.storages.journal import JournalFileBackend

    if url is None or url.endswith(".journal"):
        path = (
            sweep_dir / JOURNAL if url is None else Path(url).expanduser()
        )  # as check_journal_file reads it
        path.parent.mkdir(parents=True, exist_ok=True)
        return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
    import warnings

    try:
        with warnings.catch_warnings():  # heartbeats are "experimental" in Optuna 4-5: a warning per open
            warnings.simplefilter("ignore")
            return optuna.storages.RDBStorage(
                url,
                heartbeat_interval=HEARTBEAT_S,
                grace_period=GRACE_S,
                heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=3),
            )
    except ImportError as e:
        raise ConfigError(
            f"--storage {url}: its database driver is not installed ({e.__cause__ or e}); pip install it "
            "(e.g. psycopg[binary] for postgresql://, pymysql for mysql+pymysql://)."
        ) from None
    except Exception as e:  # sqlalchemy's OperationalError / ArgumentError and the driver's own errors
        detail = " ".join(str(getattr(e, "orig", None) or e).split())[:160]
        raise ConfigError(
            f"--storage {url} cannot be opened ({detail}); check the URL, host and credentials."
        ) from None


def create_study(storage: Any, study_name: str, greater_is_better: bool, seed: int, prune_after: int) -> Any:
    """Create or load the study (TPE sampler, median pruner on the validation metric)."""
    optuna = require_optuna()
    return optuna.create_study(
        storage=storage,
        study_name=study_name,
        direction="maximize" if greater_is_better else "minimize",
        sampler=optuna.samplers.TPESampler(seed=seed),
        # `prune_after` finished trials give the median; 0 turns pruning off
        pruner=optuna.pruners.MedianPruner(n_startup_trials=prune_after)
        if prune_after
        else optuna.pruners.NopPruner(),
        load_if_exists=True,
    )


# --------------------------------------------------------------------------- workers and trials


def worker_id() -> dict[str, Any]:
    import psutil

    return {"host": socket.gethostname(), "pid": os.getpid(), "started": psutil.Process().create_time()}


def _alive(worker: Mapping[str, Any]) -> bool:
    """Whether the process that claimed a trial on this host still runs (the same pid *and* start time)."""
    import psutil

    try:
        return abs(psutil.Process(int(worker["pid"])).create_time() - float(worker["started"])) < 1.0
    except (psutil.Error, KeyError, TypeError, ValueError):
        return False


def live(trial: Any) -> bool:
    """A trial that holds or will hold its run name: waiting, running (by a live worker), or done."""
    from optuna.trial import TrialState

    if trial.state == TrialState.FAIL:
        return False
    return not trial.user_attrs.get(SKIPPED)


def recover_dead_trials(study: Any, lock_path: Path) -> list[str]:
    """Trials that did not finish are run again under their run name, so each retry resumes its run directory
    from its last checkpoint: trials left RUNNING by a worker of this host that died (SIGKILL, power cut) are
    failed first, then every failed trial (killed, interrupted, or stopped by an error since fixed) without
    a live twin is enqueued again with its parameters. Dead workers on other hosts are found by the database
    storage's heartbeat, whose `RetryHeartbeatStaleTrialCallback` re-enqueues their trials the same way."""
    from filelock import FileLock
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    host = socket.gethostname()
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = trial.user_attrs.get(WORKER)
        if not worker or worker.get("host") != host or _alive(worker):
            continue
        try:  # the storage lets one worker make this change; the others see a finished trial
            study.tell(trial.number, state=TrialState.FAIL)
        except (UpdateFinishedTrialError, ValueError, RuntimeError):
            continue
    retried: list[str] = []
    with FileLock(str(lock_path)):  # workers of one host do not enqueue one retry twice
        trials = study.get_trials(deepcopy=False)
        held = {t.user_attrs.get(RUN_NAME) for t in trials if live(t)}
        for trial in trials:
            name = trial.user_attrs.get(RUN_NAME)
            if (
                trial.state != TrialState.FAIL
                or trial.user_attrs.get(SKIPPED)
                or name is None
                or name in held
            ):
                continue
            attrs = {k: v for k, v in trial.user_attrs.items() if k not in (WORKER, "resumed")}
            study.enqueue_trial(
                trial.params, user_attrs={**attrs, "retry_of": trial.number}, skip_if_exists=False
            )
            held.add(name)
            retried.append(name)
            logger.info(
                "Trial %d (%s) did not finish: it runs again from its last checkpoint", trial.number, name
            )
    return retried


def enqueue_missing_points(
    study: Any, points: list[dict[str, Any]], names: list[str], lock_path: Path
) -> None:
    """Every grid point without a live trial is enqueued (first start, or after a failure). A file lock keeps
    workers of one host from enqueueing a point twice; across hosts, `duplicate_of` settles it at claim time."""
    from filelock import FileLock

    with FileLock(str(lock_path)):
        held = {t.user_attrs.get(RUN_NAME) for t in study.get_trials(deepcopy=False) if live(t)}
        for point, name in zip(points, names, strict=True):
            if name not in held:
                study.enqueue_trial(point, user_attrs={RUN_NAME: name}, skip_if_exists=False)


def duplicate_of(study: Any, trial: Any, run_name: str) -> int | None:
    """The lower-numbered live trial with the same run name, if any: the claimed trial then yields to it, so
    of any twins exactly the first runs."""
    for other in study.get_trials(deepcopy=False):
        if other.number < trial.number and other.user_attrs.get(RUN_NAME) == run_name and live(other):
            return other.number
    return None


def counted(study: Any, before: int | None = None) -> int:
    """Search trials that count towards `--trials`: live ones (waiting, running, complete, pruned)."""
    return sum(
        1 for t in study.get_trials(deepcopy=False) if live(t) and (before is None or t.number < before)
    )


def has_waiting(study: Any) -> bool:
    from optuna.trial import TrialState

    return bool(study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))
