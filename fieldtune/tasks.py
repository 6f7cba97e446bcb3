"""The tasks fieldtune trains, in one explicit mapping: problem type, auto class, metrics, pipeline tag."""

from __future__ import annotations

from dataclasses import dataclass

from fieldtune.errors import ConfigError


@dataclass(frozen=True)
class Task:
    name: str
    modality: str  # "text" | "image"
    problem_type: str  # transformers' `config.problem_type`
    auto_class: str  # name of the transformers Auto class
    primary_metric: str
    greater_is_better: bool
    pipeline_tag: str
    model_index_type: str  # task type in model-index metadata

    @property
    def is_classification(self) -> bool:
        return self.problem_type != "regression"


TASKS: dict[str, Task] = {
    "text-classification": Task(
        "text-classification", "text", "single_label_classification", "AutoModelForSequenceClassification",
        "f1_macro", True, "text-classification", "text-classification",
    ),
    "text-regression": Task(
        "text-regression", "text", "regression", "AutoModelForSequenceClassification",
        "rmse", False, "text-classification", "text-classification",
    ),
    "image-classification": Task(
        "image-classification", "image", "single_label_classification", "AutoModelForImageClassification",
        "f1_macro", True, "image-classification", "image-classification",
    ),
}  # fmt: skip


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise ConfigError(f"`task`: unknown task {name!r}; choose one of {', '.join(TASKS)}.")
    return TASKS[name]
