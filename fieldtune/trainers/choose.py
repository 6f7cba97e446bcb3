"""The one place a run's Trainer is chosen: by the task's inputs, with the options the recipe gives it."""

from __future__ import annotations

from typing import Any

from fieldtune.config import RunConfig
from fieldtune.inputs.prepared import Prepared
from fieldtune.tasks.table import IMAGE, TEXT, Task
from fieldtune.trainers.base import FieldTrainer
from fieldtune.trainers.text import TextTrainer
from fieldtune.trainers.vision import VisionTrainer

# Text adds only the feature-cached probe to FieldTrainer (HF's problem_type gives every task's loss);
# images add eval transforms, the feature-cached probe, probe -> unfreeze phases, test-time views and
# precise BatchNorm.
TRAINERS: dict[str, type[FieldTrainer]] = {TEXT.name: TextTrainer, IMAGE.name: VisionTrainer}


def make_trainer(task: Task, config: RunConfig, prepared: Prepared, **kwargs: Any) -> FieldTrainer:
    """The Trainer for `task` over `prepared` inputs; `kwargs` are the Trainer's own (model, args, ...)."""
    trainer_class = TRAINERS[task.inputs.name]
    has_validation = "validation" in prepared.dataset
    return trainer_class(
        train_dataset=prepared.dataset["train"],
        eval_dataset=prepared.dataset["validation"] if has_validation else None,
        data_collator=prepared.collator,
        processing_class=prepared.processor,
        **trainer_class.run_options(config, prepared),
        **kwargs,
    )
