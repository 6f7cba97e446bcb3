"""The feature-cached probe, shared by text and image trainers: a frozen backbone is run once over the data,
the head's input (the pooled features: an image's pooled map, a text's first-token pooler output or masked
mean) is kept, cached on disk (`feature_cache.py`), and the head is trained on it by an inner
`FieldTrainer` over a `HeadModel` that shares the head's parameters with the full model: the same head as
training through the frozen backbone (no augmentation, no dropout inside it), many times faster, and the
saved model is the normal full model.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from datasets import Dataset
from torch import nn
from transformers import TrainingArguments
from transformers.modeling_outputs import SequenceClassifierOutput
from transformers.trainer_utils import TrainOutput

from fieldtune import progress
from fieldtune.modeling.heads import find_head
from fieldtune.targets import TARGETS, Targets
from fieldtune.trainers.base import FieldTrainer
from fieldtune.trainers.feature_cache import backbone_digest, cached_features, feature_key, row_keys
from fieldtune.trainers.losses import target_loss

logger = logging.getLogger(__name__)


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


class FeatureProbe:
    """Mixed into a `FieldTrainer` subclass that sets `self.method` and `self.eval_collator` (None: the
    data collator, which for text is deterministic already)."""

    method: Any
    eval_collator: Any = None
    targets: Targets = TARGETS["classes"]  # the task's: label batches and the head's loss

    def _head_module(self) -> nn.Module:
        head = find_head(self.model)
        return self.model.get_submodule(head[-1])

    @torch.no_grad()
    def pooled_features(self, dataset: Dataset, desc: str = "Extracting features") -> torch.Tensor:
        """Run the frozen model once over `dataset` (eval transform) and keep the head's input, in the
        dataset's order. Texts go through shortest first: batches of similar lengths carry little padding,
        as training's length-grouped batches do."""
        order = None
        if "input_ids" in dataset.column_names:
            order = np.argsort([len(ids) for ids in dataset["input_ids"]], kind="stable")
            dataset = dataset.select(order)
        features = self._head_inputs(dataset, desc)
        if order is None:
            return features
        restored = torch.empty_like(features)
        restored[torch.from_numpy(order)] = features
        return restored

    def _head_inputs(self, dataset: Dataset, desc: str) -> torch.Tensor:
        head = self._head_module()
        captured: list[torch.Tensor] = []
        hook = head.register_forward_pre_hook(
            lambda _m, inputs: captured.append(inputs[0].detach().float().cpu())
        )
        was_training = self.model.training
        self.model.eval()
        try:
            with progress.bar(total=len(dataset), desc=desc, unit="ex") as pbar:
                for batch in self.get_test_dataloader(dataset):
                    batch = self._prepare_inputs(batch)
                    batch.pop("labels", None)
                    with self.accelerator.autocast():
                        self.model(**batch)
                    pbar.update(len(next(iter(batch.values()))))
        finally:
            hook.remove()
            self.model.train(was_training)
        return torch.cat(captured)

    def cached_pooled_features(self, dataset: Dataset, desc: str) -> torch.Tensor:
        """`pooled_features`, read from the on-disk feature cache for every row a probe on the same backbone
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

    def _features(self, dataset: Dataset, desc: str) -> FeatureDataset:
        return FeatureDataset(
            self.cached_pooled_features(dataset, desc),
            dataset["label"],
            self.model.config.num_labels,
            self.targets,
        )

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
        train = self._features(self.train_dataset, "Extracting train features")
        evals = None
        if self.eval_dataset is not None:
            evals = self._features(self.eval_dataset, "Extracting validation features")
        extract_s = time.perf_counter() - start
        args = self.args.to_dict()
        for key in ("per_device_train_batch_size", "per_device_eval_batch_size"):
            args.pop(key, None)
        args.update(
            {
                "output_dir": str(Path(self.args.output_dir) / "head"),
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
