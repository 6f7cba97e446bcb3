"""Trainer subclasses per task. Text needs nothing beyond `FieldTrainer` (HF's `problem_type` gives the
loss); vision adds the feature-cached probe and the probe -> unfreeze phases."""

from fieldtune.trainers.arguments import build_training_args
from fieldtune.trainers.base import FieldTrainer

__all__ = ["FieldTrainer", "build_training_args"]
