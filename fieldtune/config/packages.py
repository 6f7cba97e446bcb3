"""Optional packages a recipe asks for (`training.report_to`, `training.optim`), checked before anything is
written: transformers only finds out when the Trainer is built or the optimizer created, after the run
directory exists. `find_spec` looks a package up without importing it (or torch)."""

from __future__ import annotations

import difflib
import importlib.util
from typing import Any

from fieldtune.errors import ConfigError

# report_to value -> (module to find, pip package)
REPORT_TO_PACKAGES = {
    "azure_ml": ("azureml.core", "azureml-core"),
    "comet_ml": ("comet_ml", "comet-ml"),
    "mlflow": ("mlflow", "mlflow"),
    "neptune": ("neptune", "neptune"),
    "tensorboard": ("tensorboard", "tensorboard"),
    "trackio": ("trackio", "trackio"),
    "wandb": ("wandb", "wandb"),
    "codecarbon": ("codecarbon", "codecarbon"),
    "clearml": ("clearml", "clearml"),
    "dagshub": ("dagshub", "dagshub"),
    "flyte": ("flytekit", "flytekit"),
    "dvclive": ("dvclive", "dvclive"),
    "swanlab": ("swanlab", "swanlab"),
    "kubeflow": None,  # no package: transformers turns it on from KUBEFLOW_TRAINER_SERVER_URL
}
REPORT_TO_WORDS = ("none", "all")

# optim name pattern (first match wins) -> (module to find, pip package); the others ship with torch
OPTIM_PACKAGES = (
    (("adamw_torch_4bit", "adamw_torch_8bit"), ("torchao", "torchao")),
    (("galore",), ("galore_torch", "galore-torch")),
    (("apollo",), ("apollo_torch", "apollo-torch")),
    (("lomo",), ("lomo_optim", "lomo-optim")),
    (("grokadamw",), ("grokadamw", "grokadamw")),
    (("schedule_free",), ("schedulefree", "schedulefree")),
    (("stable_adamw",), ("optimi", "torch-optimi")),
    (("adamw_anyprecision",), ("torchdistx", "torchdistx")),
    (("bnb", "8bit", "paged", "ademamix", "lion"), ("bitsandbytes", "bitsandbytes")),
)


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package missing (`azureml` of `azureml.core`)
        return False


def _report_to_values(value: Any) -> list[str]:
    """The integrations named, each checked against transformers' list (it raises mid-run otherwise)."""
    if value is None:
        return []
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ConfigError(
            f"`training.report_to: {value!r}` must be a name or a list of names such as mlflow, wandb, "
            "none or all (as strings)."
        )
    known = [*REPORT_TO_PACKAGES, *REPORT_TO_WORDS]
    for v in values:
        if v not in known:
            match = difflib.get_close_matches(v, known, n=1, cutoff=0.5)
            hint = f"did you mean `{match[0]}`?" if match else f"use one of {', '.join(known)}."
            raise ConfigError(f"`training.report_to`: unknown integration {v!r}; {hint}")
    return [v for v in values if v not in REPORT_TO_WORDS]


def check_training_packages(training: Any) -> None:
    """Raise a `ConfigError` with the pip command when `report_to` or `optim` needs a missing package."""
    extra = getattr(training, "extra", None) or {}
    report_to = getattr(training, "report_to", None) or extra.get("report_to")
    for name in _report_to_values(report_to):
        if REPORT_TO_PACKAGES[name] is not None:
            module, pip = REPORT_TO_PACKAGES[name]
            if not _installed(module):
                raise ConfigError(
                    f"`training.report_to`: {name} needs the {pip} package, which is not installed; "
                    f"run `pip install {pip}` or remove {name} from report_to."
                )
    optim = str(getattr(training, "optim", None) or extra.get("optim") or "")
    for patterns, (module, pip) in OPTIM_PACKAGES:
        if any(p in optim for p in patterns):
            if not _installed(module):
                raise ConfigError(
                    f"`training.optim`: {optim} needs the {pip} package, which is not installed; "
                    f"run `pip install {pip}` or pick another optimizer (e.g. adamw_torch)."
                )
            break
