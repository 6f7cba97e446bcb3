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

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

OWN_TENSORBOARD = "tensorboard"  # fieldtune attaches it itself (run.py)


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


class Tracker:
    """The MLflow / W&B runs of one fieldtune run (main process only); a no-op for other integrations."""

    def __init__(self, report_to: Sequence[str], name: str, params: Mapping[str, Any]) -> None:
        self.report_to = list(report_to)
        self.name, self.params = name, dict(params)
        self.mlflow: Any = None
        self.wandb: Any = None

    def start(self) -> Tracker:
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
