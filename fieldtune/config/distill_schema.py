"""The `distill:` section of a recipe: knowledge distillation from a finished fieldtune run (the teacher).

Kept beside schema.py (same field style: a default, a help text, a check) so the schema stays readable.
The teacher's files are checked in the preflight (`fieldtune.rundir.teacher`), its soft targets computed
and its loss applied by `fieldtune.trainers.distillation`.
"""

from __future__ import annotations

from dataclasses import dataclass

from fieldtune.config.checks import _f, _fraction_inclusive, _positive


@dataclass
class DistillConfig:
    teacher: str | None = _f(
        None,
        "Knowledge distillation (Hinton et al. 2015): the run directory of a finished fieldtune run of the"
        " same task and labels (e.g. a large model's full fine-tune). Before training it predicts every"
        " training row of this run once (its own tokenizer and max_length, from the raw texts), and the"
        " model trains on (1 - alpha) x the hard-label loss + alpha x T^2 x KL(teacher || student) of the"
        " temperature-softened class probabilities. Any split works: the teacher predicts the rows itself."
        " One class per example (text-classification) only. None: off.",
    )
    alpha: float = _f(
        0.5,
        "Weight of the distillation term (0: the hard-label loss alone, exactly; 1: the teacher's soft"
        " targets alone).",
        check=_fraction_inclusive,
    )
    temperature: float = _f(
        2.0,
        "T: teacher and student logits are divided by T before the softmax (T > 1 shows the teacher's"
        " ranking of the wrong classes); the KL term is scaled by T^2 so its gradients keep their size.",
        check=_positive,
    )

    @property
    def enabled(self) -> bool:
        return self.teacher is not None
