"""The final model of `cv.final: ensemble`: the K fold models of a cross-validation behind one call.

Each fold model predicts; their probabilities are averaged by the task's targets (`Targets.averaged`:
class probabilities, each label's probability, or the numbers) and handed back as logits, so evaluate,
predict and the leaderboard use the ensemble like any model. Tags decide with the folds' mean thresholds.
Plain transformers loads each fold's `model/` on its own.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch


class FoldEnsemble(torch.nn.Module):
    """K fold models; `forward(**batch).logits` are the logits of their averaged probabilities."""

    def __init__(self, models: Sequence[torch.nn.Module], averaged: Callable[[list], np.ndarray]) -> None:
        super().__init__()
        self.folds = torch.nn.ModuleList(models)
        self._averaged = averaged
        self.config = copy.deepcopy(models[0].config)  # labels, normalisation, test-time views: shared
        thresholds = [getattr(m.config, "fieldtune_thresholds", None) for m in models]
        if all(t is not None for t in thresholds):
            self.config.fieldtune_thresholds = np.mean(thresholds, axis=0).round(6).tolist()
        self.config.fieldtune_cv_folds = len(models)

    @torch.no_grad()
    def forward(self, **batch: Any) -> SimpleNamespace:
        outs = [m(**batch).logits.float().cpu().numpy() for m in self.folds]
        return SimpleNamespace(logits=torch.from_numpy(np.asarray(self._averaged(outs), dtype=np.float32)))
