"""`TextTrainer`: text tasks on top of `FieldTrainer`. HF's `problem_type` gives every text task's loss, so
the only difference is a frozen encoder (`method: probe`): the pooled features (the head's input: BERT's
pooler output, the masked mean of `model.pooling: mean`) are computed once, cached on disk, and the head is
trained on them (`feature_probe.py`, the image probe's cache); the saved model is the normal full model.
"""

from __future__ import annotations

import logging
from typing import Any

from torch import nn
from transformers.trainer_utils import TrainOutput

from fieldtune.config import MethodConfig
from fieldtune.modeling.heads import find_head
from fieldtune.modeling.methods import get_method
from fieldtune.targets import TARGETS, Targets
from fieldtune.trainers.base import FieldTrainer
from fieldtune.trainers.feature_probe import FeatureProbe

logger = logging.getLogger(__name__)


class TextTrainer(FeatureProbe, FieldTrainer):
    def __init__(
        self,
        *args: Any,
        method: MethodConfig | None = None,
        targets: Targets = TARGETS["classes"],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.method = method or MethodConfig()
        self.targets = targets  # the task's: the cached-feature head's label batches and loss

    @classmethod
    def run_options(cls, config: Any, prepared: Any) -> dict[str, Any]:
        from fieldtune.tasks.table import get_task

        return {
            **super().run_options(config, prepared),
            "method": config.method,
            "targets": get_task(config.task).targets,
        }

    def train(self, resume_from_checkpoint: str | bool | None = None, **kwargs: Any) -> TrainOutput:
        # features extracted on one rank would be a shard of the data: several processes train end to end
        cached = self.method.feature_cache and self.args.world_size == 1
        if get_method(self.method.name).caches_features and cached and self._head_caches():
            return self.train_head_on_features(self.args.num_train_epochs, self.args.learning_rate)
        return super().train(resume_from_checkpoint=resume_from_checkpoint, **kwargs)

    def _head_caches(self) -> bool:
        """The cache feeds one module: a head of one Linear (or fieldtune's MLP head) reading one vector per
        text. RoBERTa's and MPNet's own heads read the token states and pick the first inside (a row per
        token: no fixed-size feature); DistilBERT's and DeBERTa's heads are two modules (a dense layer or
        pooler before the classifier, which the cache would leave at its random start). Those probes train
        through the frozen encoder as before; `model.pooling: mean` gives them a one-Linear head."""
        head = find_head(self.model)
        if len(head) == 1 and isinstance(self._head_module(), (nn.Linear, nn.Sequential)):
            return True
        logger.info("method.feature_cache: the head %s is not one Linear layer over one vector per text;"
                    " training through the frozen encoder", head)  # fmt: skip
        return False
