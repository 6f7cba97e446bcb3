"""`VisionTrainer`: image classification on top of `FieldTrainer`.

What differs from text:
- evaluation batches use the deterministic eval transform (training batches are augmented);
- a frozen backbone (`probe`, and phase 1 of `probe_unfreeze`) is run once over the data with the eval
  transform and the head trains on the cached features (`feature_probe.py`, shared with text): the same
  head as training through the frozen backbone without augmentation, many times faster;
- `probe_unfreeze`: phase 1 trains the head only (E1 epochs at lr1), phase 2 unfreezes the top K
  blocks / stages and trains them with the head at the recipe's learning rate, in one run;
- `data.augment.test_time`: evaluation averages flipped / rotated views (`fieldtune.inputs.test_time`);
- `training.precise_bn`: trainable BatchNorm statistics are recomputed for the current weights before
  each evaluation (`precise_bn.py`), so checkpoints carry them too, and at the end of training for the
  kept weights in their saved precision (`saved_precision`).
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import torch
from torch import nn
from transformers import set_seed
from transformers.trainer_utils import TrainOutput

from fieldtune.config import MethodConfig
from fieldtune.inputs import test_time as test_time_views
from fieldtune.modeling.create import backbone_blocks
from fieldtune.modeling.methods import get_method
from fieldtune.targets import TARGETS, Targets
from fieldtune.tasks.table import get_task
from fieldtune.trainers.base import FieldTrainer
from fieldtune.trainers.feature_probe import FeatureDataset, FeatureProbe, HeadModel  # noqa: F401  (re-exported)
from fieldtune.trainers.precise_bn import calibration_sample, recalibrate_batchnorm, trainable_batchnorms

logger = logging.getLogger(__name__)
PHASE1_DONE = "phase1_head.pt"  # written when phase 1 finished: a resumed run skips it


class VisionTrainer(FeatureProbe, FieldTrainer):
    def __init__(
        self,
        *args: Any,
        eval_collator: Any = None,
        method: MethodConfig | None = None,
        test_time: str = "none",
        precise_bn: int = 0,
        targets: Targets = TARGETS["classes"],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.targets = targets  # the task's: label batches, the head's loss, test-time averaging
        self.eval_collator = eval_collator
        self.method = method or MethodConfig()
        self.test_time = test_time
        self.precise_bn = precise_bn
        self._bn_calibrated_step: int | None = None
        if test_time != "none":  # travels in config.json: predict / evaluate average the same views
            setattr(self.model.config, test_time_views.CONFIG_KEY, test_time)

    @classmethod
    def run_options(cls, config: Any, prepared: Any) -> dict[str, Any]:
        return {
            **super().run_options(config, prepared),
            "eval_collator": prepared.eval_collator,
            "method": config.method,
            "test_time": config.data.augment.test_time,
            "precise_bn": config.training.precise_bn,
            "targets": get_task(config.task).targets,
        }

    @contextlib.contextmanager
    def _eval_transforms(self):
        train_collator = self.data_collator
        self.data_collator = self.eval_collator or train_collator
        try:
            yield
        finally:
            self.data_collator = train_collator

    def get_eval_dataloader(self, eval_dataset: Any = None):
        with self._eval_transforms():
            return super().get_eval_dataloader(eval_dataset)

    def get_test_dataloader(self, test_dataset: Any):
        with self._eval_transforms():
            return super().get_test_dataloader(test_dataset)

    def evaluate(self, *args: Any, **kwargs: Any) -> dict[str, float]:
        self.recalibrate_batchnorm()  # evaluation, and the checkpoint saved after it, use current statistics
        return super().evaluate(*args, **kwargs)

    def recalibrate_batchnorm(self) -> None:
        """Precise BatchNorm over a fixed random sample of up to `precise_bn` training images."""
        if not self.precise_bn or self.train_dataset is None or not trainable_batchnorms(self.model):
            return
        if self._bn_calibrated_step == self.state.global_step:  # no step since: the statistics are current
            return
        sample = calibration_sample(self.train_dataset, self.precise_bn, self.args.seed)

        def forward(batch: dict) -> None:
            batch = self._prepare_inputs(batch)
            self.model(pixel_values=batch["pixel_values"])

        # A plain loader, not accelerate's sharded one: every rank computes the same statistics from the
        # whole sample (the weights are the same on every rank), so every rank evaluates alike.
        batches = torch.utils.data.DataLoader(
            sample,
            batch_size=self.args.per_device_eval_batch_size,
            collate_fn=self.eval_collator or self.data_collator,
        )
        layers = recalibrate_batchnorm(self.model, batches, forward, self.accelerator.autocast)
        if layers:
            logger.info(
                "Precise BatchNorm: %d layers recalibrated on %d training images", layers, len(sample)
            )
        self._bn_calibrated_step = self.state.global_step

    def prediction_step(
        self, model: nn.Module, inputs: dict, prediction_loss_only: bool, ignore_keys: Any = None
    ) -> tuple:
        loss, logits, labels = super().prediction_step(model, inputs, prediction_loss_only, ignore_keys)
        if self.test_time == "none" or prediction_loss_only or not isinstance(logits, torch.Tensor):
            return loss, logits, labels
        pixels = self._prepare_inputs(inputs)["pixel_values"]
        with self.accelerator.autocast():  # the loss stays the identity view's
            logits = test_time_views.averaged_logits(
                lambda px: model(pixel_values=px).logits,
                pixels,
                self.test_time,
                identity_logits=logits,
                targets=self.targets,
            )
        return loss, logits, labels

    # ------------------------------------------------------------------ phases

    def train(self, resume_from_checkpoint: str | bool | None = None, **kwargs: Any) -> TrainOutput:
        method = get_method(self.method.name)
        # Features extracted on one rank would be a shard of the data: several processes train end to end.
        cached = self.method.feature_cache and self.args.world_size == 1
        if method.caches_features and cached:
            return self.train_head_on_features(self.args.num_train_epochs, self.args.learning_rate)
        if not method.head_first:
            return self._train_and_recalibrate(resume_from_checkpoint=resume_from_checkpoint, **kwargs)
        phase1 = self._phase1_file()
        if phase1.is_file():  # only a resumed run has it: a new or overwritten run directory starts empty
            logger.info("Phase 1 (head only) already done: loading the head from %s", phase1)
            self._head_module().load_state_dict(torch.load(phase1, weights_only=True))
            phase1_logs: list[dict] = []
        else:
            resume_from_checkpoint = None  # checkpoints belong to phase 2; none exist before it
            self.run_phase1(cached)
            phase1_logs = [{**h, "phase": 1} for h in self.state.log_history]
            if self.args.process_index == 0:
                phase1.parent.mkdir(parents=True, exist_ok=True)
                torch.save(self._head_module().state_dict(), phase1)
        self.unfreeze_top(self.method.trainable_layers)
        # Phase 2 starts from the same random state whether phase 1 just ran or was skipped on --resume.
        set_seed(self.args.seed)
        out = self._train_and_recalibrate(resume_from_checkpoint=resume_from_checkpoint, **kwargs)
        self.state.log_history = phase1_logs + [{**h, "phase": 2} for h in self.state.log_history]
        return out

    def _train_and_recalibrate(self, **kwargs: Any) -> TrainOutput:
        self._bn_calibrated_step = None
        out = super().train(**kwargs)
        # The kept weights (last, restored best or averaged) get their statistics once more, in the precision
        # they are saved in: statistics averaged over bf16 activations are not those of the fp32 model that
        # is saved and reported (lithology: test 0.869 with bf16 statistics, 0.872 with fp32 ones).
        averaged = self.weight_averaging is not None and self.weight_averaging.applied
        if averaged and not self.precise_bn and trainable_batchnorms(self.model):
            logger.warning(
                "training.weight_averaging with training.precise_bn: 0: the BatchNorm statistics are not"
                " those of the averaged weights; set training.precise_bn (e.g. 2048)"
            )
        self._bn_calibrated_step = None
        with self.saved_precision():
            self.recalibrate_batchnorm()  # nothing to do without trainable BatchNorm or `precise_bn: 0`
        return out

    def run_phase1(self, cached: bool) -> None:
        """Head only, at the probe learning rate, for `probe_epochs`."""
        if cached:
            self.train_head_on_features(
                self.method.probe_epochs, self.method.probe_learning_rate, head_only=True
            )
            return
        main = (self.args.num_train_epochs, self.args.learning_rate)
        self.args.num_train_epochs, self.args.learning_rate = (
            self.method.probe_epochs,
            self.method.probe_learning_rate,
        )
        if self.weight_averaging is not None:  # the average is of the final phase's weights
            self.weight_averaging.enabled = False
        try:
            super().train()
        finally:
            self.args.num_train_epochs, self.args.learning_rate = main
            self.optimizer, self.lr_scheduler = None, None
            if self.weight_averaging is not None:
                self.weight_averaging.enabled = True

    def unfreeze_top(self, k: int) -> None:
        """Phase 2: the top `k` blocks / stages and the head train; a fresh optimizer sees them."""
        blocks = backbone_blocks(self.model)
        for block in list(blocks)[len(blocks) - k :] if k else []:
            for p in block.parameters():
                p.requires_grad = True
        self.optimizer, self.lr_scheduler = None, None
        from transformers import EarlyStoppingCallback

        for cb in self.callback_handler.callbacks:  # phase 2 gets its own patience
            if isinstance(cb, EarlyStoppingCallback):
                cb.early_stopping_patience_counter = 0

    def _phase1_file(self):
        from pathlib import Path

        return Path(self.args.output_dir) / PHASE1_DONE
