"""`VisionTrainer`: image classification on top of `FieldTrainer`.

What differs from text:
- evaluation batches use the deterministic eval transform (training batches are augmented);
- a frozen backbone (`probe`, and phase 1 of `probe_unfreeze`) is run once over the data: the pooled
  features (the head's input) are cached and the head is trained on them by an inner `FieldTrainer`
  over a `HeadModel` that shares the head's parameters: the same head as training through the frozen
  backbone without augmentation, many times faster;
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
import time
from typing import Any

import torch
from datasets import Dataset
from torch import nn
from transformers import TrainingArguments, set_seed
from transformers.modeling_outputs import SequenceClassifierOutput
from transformers.trainer_utils import TrainOutput

from fieldtune import progress
from fieldtune.config import MethodConfig
from fieldtune.inputs import test_time as test_time_views
from fieldtune.modeling.create import backbone_blocks
from fieldtune.modeling.heads import find_head
from fieldtune.modeling.methods import get_method
from fieldtune.targets import TARGETS, Targets
from fieldtune.tasks import get_task
from fieldtune.trainers.base import FieldTrainer
from fieldtune.trainers.feature_cache import backbone_digest, cached_features, feature_key, row_keys
from fieldtune.trainers.losses import target_loss
from fieldtune.trainers.precise_bn import calibration_sample, recalibrate_batchnorm, trainable_batchnorms

logger = logging.getLogger(__name__)
PHASE1_DONE = "phase1_head.pt"  # written when phase 1 finished: a resumed run skips it


class HeadModel(nn.Module):
    """The head alone, fed cached features; shares its parameters with the full model. Its loss is the one
    the labels' kind takes (`target_loss`: cross-entropy, BCE for label sets, MSE for numbers), as HF's
    heads choose theirs."""

    def __init__(self, head: nn.Module, num_labels: int) -> None:
        super().__init__()
        self.head = head
        self.num_labels = num_labels

    def forward(self, features: torch.Tensor, labels: torch.Tensor | None = None) -> SequenceClassifierOutput:
        logits = self.head(features)
        loss = None if labels is None else target_loss(logits, labels)
        return SequenceClassifierOutput(loss=loss, logits=logits)


class FeatureDataset(torch.utils.data.Dataset):
    """Cached features and labels as tensors. Rows come straight from memory: through an Arrow table each
    row was a Python list to convert, half of the head's training time."""

    def __init__(
        self, features: torch.Tensor, labels: list, num_labels: int, targets: Targets = TARGETS["classes"]
    ) -> None:
        self.features, self.labels = features, targets.label_tensor(labels, num_labels)  # sets: multi-hot

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"features": self.features[i], "labels": self.labels[i]}


class VisionTrainer(FieldTrainer):
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

    def _head_module(self) -> nn.Module:
        head = find_head(self.model)
        return self.model.get_submodule(head[-1])

    @torch.no_grad()
    def pooled_features(self, dataset: Dataset, desc: str = "Extracting features") -> torch.Tensor:
        """Run the frozen model once over `dataset` (eval transform) and keep the head's input."""
        head = self._head_module()
        captured: list[torch.Tensor] = []
        hook = head.register_forward_pre_hook(
            lambda _m, inputs: captured.append(inputs[0].detach().float().cpu())
        )
        was_training = self.model.training
        self.model.eval()
        try:
            with progress.bar(total=len(dataset), desc=desc, unit="img") as pbar:
                for batch in self.get_test_dataloader(dataset):
                    batch = self._prepare_inputs(batch)
                    batch.pop("labels", None)
                    with self.accelerator.autocast():
                        self.model(**batch)
                    pbar.update(len(batch["pixel_values"]))
        finally:
            hook.remove()
            self.model.train(was_training)
        return torch.cat(captured)

    def cached_pooled_features(self, dataset: Dataset, desc: str) -> torch.Tensor:
        """`pooled_features`, read from the on-disk feature cache for every image a probe on the same backbone
        and eval transform extracted before (another trial of a sweep, a re-run, another fold of a CV)."""
        digest = backbone_digest(self.model, find_head(self.model))
        precision = "bf16" if self.args.bf16 else "fp16" if self.args.fp16 else "fp32"
        key = feature_key(digest, self.eval_collator or self.data_collator, precision)

        def compute(index: list[int]) -> torch.Tensor:
            rows = dataset if len(index) == len(dataset) else dataset.select(index)
            return self.pooled_features(rows, desc)

        return cached_features(key, row_keys(dataset), compute, desc)

    def _inner_callbacks(self, with_early_stopping: bool) -> list:
        """For the feature-cached head trainer: the outer trainer's tracking callbacks (one MLflow / W&B
        run gets the head's steps too) and a fresh early stopping with the recipe's patience."""
        from transformers import EarlyStoppingCallback
        from transformers.integrations import get_reporting_integration_callbacks

        integrations = tuple(get_reporting_integration_callbacks(self.args.report_to))
        callbacks = self.callback_handler.callbacks
        shared = [cb for cb in callbacks if integrations and isinstance(cb, integrations)]
        early = [
            EarlyStoppingCallback(cb.early_stopping_patience, cb.early_stopping_threshold)
            for cb in callbacks
            if with_early_stopping and isinstance(cb, EarlyStoppingCallback)
        ]
        return shared + early

    def train_head_on_features(
        self, epochs: float, learning_rate: float, head_only: bool = False
    ) -> TrainOutput:
        """Cache pooled features, then train the head on them with an inner `FieldTrainer`."""
        start = time.perf_counter()
        head = self._head_module()
        for p in self.model.parameters():
            p.requires_grad = False
        for p in head.parameters():
            p.requires_grad = True
        num_labels = self.model.config.num_labels
        train = FeatureDataset(
            self.cached_pooled_features(self.train_dataset, "Extracting train features"),
            self.train_dataset["label"],
            num_labels,
            self.targets,
        )
        evals = None
        if self.eval_dataset is not None:
            evals = FeatureDataset(
                self.cached_pooled_features(self.eval_dataset, "Extracting validation features"),
                self.eval_dataset["label"],
                num_labels,
                self.targets,
            )
        extract_s = time.perf_counter() - start
        args = self.args.to_dict()
        for key in ("per_device_train_batch_size", "per_device_eval_batch_size"):
            args.pop(key, None)
        args.update(
            {
                "output_dir": str(self._phase1_file().parent / "head"),
                "num_train_epochs": epochs,
                "learning_rate": learning_rate,
                # the same model selection as end-to-end training: best epoch on validation restored
                "save_strategy": "epoch" if evals is not None else "no",
                "save_total_limit": 1,
                "load_best_model_at_end": evals is not None and self.args.load_best_model_at_end,
                "eval_strategy": "epoch" if evals is not None else "no",
                "per_device_train_batch_size": self.args.per_device_train_batch_size,
                "per_device_eval_batch_size": self.args.per_device_eval_batch_size,
                "dataloader_num_workers": 0,
                "train_sampling_strategy": "random",
            }
        )
        args = {
            k: v
            for k, v in args.items()
            if k in TrainingArguments.__dataclass_fields__ and TrainingArguments.__dataclass_fields__[k].init
        }
        args["report_to"] = "none"  # the outer trainer's integration callbacks are shared below instead
        head_model = HeadModel(head, self.model.config.num_labels)
        inner = FieldTrainer(
            model=head_model,
            args=TrainingArguments(**args),
            train_dataset=train,
            eval_dataset=evals,
            compute_metrics=self.compute_metrics,
            callbacks=self._inner_callbacks(with_early_stopping=evals is not None),
            class_weights=self.class_weights,
            label_smoothing=self.label_smoothing,
            r_drop=self.r_drop,
            # the head's own average when it is the final model (probe), not in phase 1 of probe_unfreeze
            weight_averaging=None if head_only else self.weight_averaging_config,
        )
        out = inner.train()
        self.state.log_history = list(inner.state.log_history)
        runtime = time.perf_counter() - start
        n = len(train) * epochs
        metrics = {
            **out.metrics,
            "train_runtime": runtime,
            "train_samples_per_second": n / runtime,
            "feature_extraction_s": extract_s,
        }
        if not head_only:
            self.state.global_step = out.global_step
        return TrainOutput(out.global_step, out.training_loss, metrics)
