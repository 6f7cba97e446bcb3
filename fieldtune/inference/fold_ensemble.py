"""The final model of `cv.final: ensemble`: the K fold models of a cross-validation behind one call.

Each fold model predicts; their probabilities are averaged by the task's targets (`Targets.averaged`:
class probabilities, each label's probability, or the numbers) and handed back as logits, so evaluate,
predict and the leaderboard use the ensemble like any model. Tags decide with the folds' mean thresholds.
Plain transformers loads each fold's `model/` on its own. `exportable()` gives the same average as one
torch graph (`FoldGraph`, `Targets.averaged_tensors`), which `fieldtune export --format onnx` writes.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch

from fieldtune.rundir.saving import is_peft_model


class FoldEnsemble(torch.nn.Module):
    """K fold models; `forward(**batch).logits` are the logits of their averaged probabilities."""

    def __init__(self, models: Sequence[torch.nn.Module], targets: Any) -> None:
        super().__init__()
        self.folds = torch.nn.ModuleList(models)
        self._targets = targets
        self.config = copy.deepcopy(models[0].config)  # labels, normalisation, test-time views: shared
        thresholds = [getattr(m.config, "fieldtune_thresholds", None) for m in models]
        if all(t is not None for t in thresholds):
            self.config.fieldtune_thresholds = np.mean(thresholds, axis=0).round(6).tolist()
        self.config.fieldtune_cv_folds = len(models)

    @torch.no_grad()
    def forward(self, **batch: Any) -> SimpleNamespace:
        outs = [m(**batch).logits.float().cpu().numpy() for m in self.folds]
        averaged = self._targets.averaged(outs)
        return SimpleNamespace(logits=torch.from_numpy(np.asarray(averaged, dtype=np.float32)))

    def exportable(self) -> FoldGraph:
        """The folds (LoRA merged into their weights, here too) as one graph torch.onnx can trace."""
        for i, model in enumerate(self.folds):
            if is_peft_model(model):
                self.folds[i] = model.merge_and_unload()
        return FoldGraph(list(self.folds), self._targets, self.config)


class FoldGraph(torch.nn.Module):
    """The fold ensemble in torch ops only: `forward(...)` -> (logits, mean), named `output_names`.

    `logits` mean what `FoldEnsemble` gives (softmax / sigmoid of them is the mean probability), so the
    exported folder predicts like the CV directory; the second output is the mean itself: the classes'
    mean softmax probabilities, each tag's mean sigmoid probability, or the mean value.
    """

    def __init__(self, models: Sequence[torch.nn.Module], targets: Any, config: Any) -> None:
        super().__init__()
        self.folds = torch.nn.ModuleList(models)
        self._targets = targets
        self.config = config
        self.output_names = ("logits", targets.ensemble_output)

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        pixel_values: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        # named inputs, not **batch: torch.export maps the dynamic axes onto argument names
        given = {"input_ids": input_ids, "attention_mask": attention_mask}
        given |= {"token_type_ids": token_type_ids, "pixel_values": pixel_values}
        batch = {k: v for k, v in given.items() if v is not None}
        return self._targets.averaged_tensors([m(**batch).logits for m in self.folds])
