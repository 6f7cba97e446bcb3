"""How a task's targets are batched, decoded and scored: one `Targets` per kind of target.

`Task.targets` is one of `TARGETS` (classes, tags, values); trainers, collators, results, evaluation,
predict, the baseline and the recipe checks ask it instead of branching on the task. Outputs reaching
these methods are already in real units (a regression head has its target scale folded in, or
`fieldtune.tasks.scoring.real_units` has been applied to the Trainer's standardised outputs). A new kind of
target is a new `Targets` subclass here.
"""

from __future__ import annotations

from fieldtune.targets.base import Targets
from fieldtune.targets.classes import Classes
from fieldtune.targets.tags import Tags
from fieldtune.targets.values import Values

TARGETS: dict[str, Targets] = {"classes": Classes(), "tags": Tags(), "values": Values()}
# Every metric fieldtune reports where smaller is better, read from the kinds of target that report them.
LOWER_IS_BETTER = frozenset(name for targets in TARGETS.values() for name in targets.lower_is_better)

__all__ = ["LOWER_IS_BETTER", "TARGETS", "Classes", "Tags", "Targets", "Values"]
