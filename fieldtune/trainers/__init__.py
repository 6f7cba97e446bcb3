"""Trainer subclasses and their arguments. Text adds only the feature-cached probe to `FieldTrainer` (HF's
`problem_type` gives the loss); vision adds the same probe, eval transforms and the probe -> unfreeze
phases; `make_trainer` chooses between them from the task."""

from fieldtune.trainers.arguments import build_training_args
from fieldtune.trainers.base import FieldTrainer
from fieldtune.trainers.choose import make_trainer

__all__ = ["FieldTrainer", "build_training_args", "make_trainer"]
