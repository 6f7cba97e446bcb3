"""Experiment tracking: `training.report_to` names the Trainer's integrations (mlflow, wandb, ...).

fieldtune's own TensorBoard logs (`run_dir/logs`) are always written, so `tensorboard` in `report_to` adds
nothing (two writers would log every point twice). For MLflow and Weights & Biases fieldtune opens the
tracked run itself, before training, so that every trainer of the run (the feature-cached probe's inner
trainer, both phases of `probe_unfreeze`) logs into that one run through transformers' callbacks (they
reuse an active run); after the test split it adds the test metrics and the run's `config.yaml` and
`eval_results.json` as artifacts, then closes the run.

- MLflow (`pip install fieldtune[mlflow]`): `MLFLOW_TRACKING_URI` (a team server, `file:./mlruns`, ...);
  unset, a local file store in `./mlruns`. `MLFLOW_EXPERIMENT_NAME` picks the experiment.
- Weights & Biases (`pip install fieldtune[wandb]`): `WANDB_PROJECT` (default `fieldtune`); `WANDB_MODE=offline`
  works without an account (`wandb sync` uploads later).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

OWN_TENSORBOARD = "tensorboard"  # fieldtune attaches it itself (training/run.py)


def resolve_report_to(value: Any) -> list[str]:
    """`training.report_to` as the list of integrations Trainer should add (fieldtune's TensorBoard
    aside): `all` means every installed one, `none` none."""
    names = [value] if isinstance(value, str) else list(value or [])
    if "none" in names:
        return []
    if "all" in names:
        from transformers.integrations import get_available_reporting_integrations

        names = get_available_reporting_integrations()
    return [n for n in dict.fromkeys(names) if n != OWN_TENSORBOARD]


# --------------------------------------------------------------------------- reachable before training
# A tracked run whose server is down or whose W&B login is missing fails here, in a second, before anything is
# written: MLflow would retry a closed port for minutes and then raise, W&B raises (or prompts) in
# `wandb.init`. A user who named a tracker wants the run in it, so this stops rather than warns; the message
# says how to train untracked (`--training.report_to=none`) or offline (`WANDB_MODE=offline`).
_UNTRACKED = "or pass --training.report_to=none to train without it"


def check_tracking(report_to: Any) -> None:
    """Raise a one-line `ConfigError` when a named MLflow server does not answer or W&B has no credentials."""
    names = [report_to] if isinstance(report_to, str) else list(report_to or [])
    if "none" in names:
        return
    if "all" in names:  # every installed integration: transformers' own check, without importing it
        import importlib.util

        names = [n for n in ("mlflow", "wandb") if importlib.util.find_spec(n) is not None]
    if "mlflow" in names:
        _check_mlflow_server(os.environ.get("MLFLOW_TRACKING_URI", ""))
    if "wandb" in names:
        _check_wandb_login()


def _check_mlflow_server(uri: str) -> None:
    import socket
    import urllib.parse
    import urllib.request

    from fieldtune.errors import ConfigError

    parts = urllib.parse.urlsplit(uri)
    if parts.scheme not in ("http", "https"):  # a file store, databricks, ...: nothing to reach here
        return
    try:
        host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:  # a port that is not a number
        host = None
    if not host:
        raise ConfigError(f"MLFLOW_TRACKING_URI={uri} is not a valid http(s) URL; fix it, {_UNTRACKED}.")
    if urllib.request.getproxies().get(parts.scheme) and not urllib.request.proxy_bypass(host):
        return  # reached through a proxy: a direct connection says nothing
    try:
        socket.create_connection((host, port), timeout=5).close()
    except OSError as e:
        why = e.strerror or type(e).__name__
        raise ConfigError(
            f"`training.report_to: mlflow`: the tracking server MLFLOW_TRACKING_URI={uri} does not answer "
            f"({why}); start it or fix the URI, {_UNTRACKED}."
        ) from None


def _check_wandb_login() -> None:
    import netrc
    import urllib.parse

    from fieldtune.errors import ConfigError

    if os.environ.get("WANDB_MODE", "").lower() in ("offline", "disabled", "dryrun"):
        return
    if os.environ.get("WANDB_API_KEY") or os.environ.get("WANDB_IDENTITY_TOKEN_FILE"):
        return
    host = urllib.parse.urlsplit(os.environ.get("WANDB_BASE_URL") or "https://api.wandb.ai").hostname
    path = os.environ.get("NETRC") or os.path.join(os.path.expanduser("~"), ".netrc")
    try:  # where `wandb login` keeps the key
        if host and netrc.netrc(path).authenticators(host):
            return
    except (OSError, netrc.NetrcParseError):
        pass
    settings = Path(os.environ.get("WANDB_CONFIG_DIR") or Path.home() / ".config" / "wandb") / "settings"
    if settings.is_file() and "api_key" in settings.read_text(encoding="utf-8", errors="replace"):
        return
    raise ConfigError(
        "`training.report_to: wandb`: W&B has no API key (not logged in); run `wandb login` or set "
        f"WANDB_API_KEY, or set WANDB_MODE=offline to log locally (`wandb sync` uploads later), {_UNTRACKED}."
    )


class Tracker:
    """The MLflow / W&B runs of one fieldtune run (main process only); a no-op for other integrations."""

    def __init__(self, report_to: Sequence[str], name: str, params: Mapping[str, Any]) -> None:
        self.report_to = list(report_to)
        self.name, self.params = name, dict(params)
        self.mlflow: Any = None
        self.wandb: Any = None

    def start(self) -> Tracker:
        """Open the tracked runs; a tracker's refusal (server gone since the preflight, a bad key) is one line."""
        try:
            return self._start()
        except Exception as e:
            from fieldtune.errors import FieldtuneError

            with contextlib.suppress(Exception):  # close what did open; the first error is the one to show
                self.fail()
            if "wandb" in self.report_to and "wandb" in sys.modules:
                with contextlib.suppress(Exception):  # wandb keeps the settings (the bad key) process-wide
                    sys.modules["wandb"].teardown()
            first = (str(e).strip().splitlines() or [""])[0][:200]
            raise FieldtuneError(
                f"`training.report_to`: {', '.join(self.report_to)} could not start its run ({type(e).__name__}: "
                f"{first}); check MLFLOW_TRACKING_URI / `wandb login`, {_UNTRACKED}."
            ) from e

    def _start(self) -> Tracker:
        if "mlflow" in self.report_to:
            import mlflow

            uri = os.environ.get("MLFLOW_TRACKING_URI") or Path("mlruns").resolve().as_uri()
            if uri.startswith("file:"):  # MLflow 3 asks for an explicit opt-in to its file store
                os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
            mlflow.set_tracking_uri(uri)
            if os.environ.get("MLFLOW_EXPERIMENT_NAME"):
                mlflow.set_experiment(os.environ["MLFLOW_EXPERIMENT_NAME"])
            mlflow.start_run(run_name=self.name)
            mlflow.set_tags({"fieldtune.task": self.params.get("task"), "fieldtune.run": self.name})
            self.mlflow = mlflow
            logger.info("MLflow run %s at %s", mlflow.active_run().info.run_id, uri)
        if "wandb" in self.report_to:
            import wandb

            self.wandb = wandb.init(project=os.environ.get("WANDB_PROJECT", "fieldtune"), name=self.name)
            # under one key: WandbCallback adds TrainingArguments and the model config at the top level
            self.wandb.config.update({"fieldtune": self.params})
        return self

    def finish(self, test_metrics: Mapping[str, float], step: int, files: Sequence[Path]) -> None:
        """Test metrics and the run's files into every tracked run, then close them."""
        numbers = {k: float(v) for k, v in test_metrics.items() if isinstance(v, int | float)}
        if self.mlflow is not None:
            self.mlflow.log_metrics(numbers, step=step)
            for path in files:
                self.mlflow.log_artifact(str(path))
            self.mlflow.end_run()
            self.mlflow = None
        if self.wandb is not None:
            import wandb

            self.wandb.summary.update(numbers)  # WandbCallback logs them as a history point (`test/...`)
            artifact = wandb.Artifact(f"{self.name}-results", type="fieldtune-run")
            for path in files:
                artifact.add_file(str(path))
                # under the run folder's name: wandb keeps its own config.yaml in the same files/ folder
                self.wandb.save(str(path), base_path=str(path.parent.parent), policy="now")
            self.wandb.log_artifact(artifact)
            self.wandb.finish()
            self.wandb = None

    def fail(self) -> None:
        """The run failed: close the tracked runs as failed (nothing else is logged)."""
        if self.mlflow is not None:
            self.mlflow.end_run(status="FAILED")
            self.mlflow = None
        if self.wandb is not None:
            self.wandb.finish(exit_code=1)
            self.wandb = None
