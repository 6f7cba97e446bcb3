"""`FieldTrainer`: what every task shares on top of `transformers.Trainer`: its own loss when the recipe
asks for class weights, label smoothing, R-Drop (`losses.py`) or Mixup / CutMix (`mixing.py`), a teacher's
soft targets mixed in (`distillation.py`), weight averaging (`weight_averaging.py`,
kept in checkpoints) and layer-wise learning-rate decay. Task trainers override only what differs."""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn
from transformers import PreTrainedModel, Trainer

from fieldtune.inputs.prepare import TEACHER_COLUMN
from fieldtune.modeling.create import backbone_blocks
from fieldtune.trainers.distillation import Distillation
from fieldtune.trainers.losses import symmetric_kl
from fieldtune.trainers.mixing import BatchMix, mixed_loss
from fieldtune.trainers.progress_callback import attach_progress
from fieldtune.trainers.weight_averaging import WeightAveraging


class FieldTrainer(Trainer):
    """A `Trainer` with optional class weights (`class_weights`), label smoothing (`label_smoothing`, also
    with class weights and for label sets), R-Drop (`r_drop`: the KL weight alpha), Mixup / CutMix of
    image batches (`mix`), weight averaging (`weight_averaging`: a `training.weight_averaging` section),
    distillation (`distill`: a teacher's logits in the training batches) and LLRD (`layerwise_lr_decay`)."""

    def __init__(
        self,
        *args: Any,
        class_weights: torch.Tensor | None = None,
        layerwise_lr_decay: float | None = None,
        label_smoothing: float = 0.0,
        r_drop: float = 0.0,
        mix: BatchMix | None = None,
        weight_averaging: Any = None,
        distill: Distillation | None = None,
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        self.label_smoothing, self.r_drop = label_smoothing, r_drop
        self.distill = distill  # a teacher's soft targets mixed into the training loss (`distillation.py`)
        self.mix = mix if mix is not None and mix.enabled else None
        self.weight_averaging: WeightAveraging | None = None
        self.weight_averaging_config = weight_averaging  # handed on to an inner trainer (feature-cached head)
        if weight_averaging is not None and weight_averaging.start is not None:
            self.weight_averaging = WeightAveraging(
                weight_averaging.start, weight_averaging.every_steps, weight_averaging.ema_decay
            )
            self.add_callback(self.weight_averaging)
        # HF classification / regression heads accept **kwargs but ignore `num_items_in_batch` (their loss is
        # a per-batch mean). Left True, Trainer skips the gradient-accumulation division and multiplies the
        # loss by the number of processes: loss and gradients x GA x N (seen: 2 processes, loss 2.2 for 1.1).
        self.model_accepts_loss_kwargs = False
        self.class_weights = class_weights
        self.layerwise_lr_decay = layerwise_lr_decay
        attach_progress(self)  # bars on a terminal, log lines elsewhere, nothing with --quiet

    @classmethod
    def run_options(cls, config: Any, prepared: Any) -> dict[str, Any]:
        """This class's own constructor arguments, read from the run's config and prepared inputs."""
        from fieldtune.tasks.table import get_task

        training = config.training
        return {
            "layerwise_lr_decay": training.layerwise_lr_decay,
            "label_smoothing": training.label_smoothing_factor,
            "r_drop": training.r_drop,
            "mix": BatchMix(training.mixup_alpha, training.cutmix_alpha),
            "weight_averaging": training.weight_averaging,
            "distill": Distillation.of(config.distill, get_task(config.task).targets),
        }

    def _get_eval_sampler(self, eval_dataset: Any) -> Any:
        # With train_sampling_strategy=group_by_length, transformers also groups *evaluation* batches at random,
        # so predict() returns rows out of order. Evaluation is always sequential here (distributed: None,
        # accelerate shards it in order).
        if eval_dataset is None or self.args.world_size > 1:
            return None
        return torch.utils.data.SequentialSampler(eval_dataset)

    def compute_loss(
        self, model: nn.Module, inputs: dict, return_outputs: bool = False, num_items_in_batch: Any = None
    ):
        teacher = inputs.get(TEACHER_COLUMN)  # training batches of a distilled run: the teacher's logits
        if teacher is not None:
            inputs = {k: v for k, v in inputs.items() if k != TEACHER_COLUMN}
        if teacher is None or self.distill is None or not model.training:
            return self._hard_loss(model, inputs, return_outputs, num_items_in_batch)
        hard, outputs = self._hard_loss(model, inputs, True, num_items_in_batch)
        loss = self.distill.loss(hard, _logits(outputs), teacher)
        return (loss, outputs) if return_outputs else loss

    def _hard_loss(
        self, model: nn.Module, inputs: dict, return_outputs: bool = False, num_items_in_batch: Any = None
    ):
        """The loss against the labels: the head's own, or fieldtune's (class weights, smoothing, R-Drop, mixing)."""
        if model.training:
            keep_frozen_in_eval(model)
        r_drop = self.r_drop and model.training  # evaluation: one pass, no dropout to compare
        mixing = self.mix is not None and model.training and "pixel_values" in inputs
        own_loss = self.class_weights is not None or self.label_smoothing or r_drop or mixing
        if not own_loss or "labels" not in inputs:
            return super().compute_loss(
                model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch
            )
        labels = inputs.pop("labels")
        partner, lam = None, 1.0
        if mixing:
            inputs = {**inputs}
            inputs["pixel_values"], partner, lam = self.mix(inputs["pixel_values"])
        outputs = model(**inputs)
        weight = None
        if self.class_weights is not None:  # tags: per-label positive weights
            weight = self.class_weights.to(device=labels.device, dtype=torch.float32)
        loss = mixed_loss(_logits(outputs), labels, weight, self.label_smoothing, partner, lam)
        if r_drop:  # a second pass draws other dropout masks
            second = _logits(model(**inputs))
            loss = (loss + mixed_loss(second, labels, weight, self.label_smoothing, partner, lam)) / 2
            loss = loss + self.r_drop * symmetric_kl(_logits(outputs), second)
        return (loss, outputs) if return_outputs else loss

    # ------------------------------------------------------------------ weight average in checkpoints

    def train(self, *args: Any, **kwargs: Any) -> Any:
        if self.weight_averaging is not None:
            self.weight_averaging.reset()  # a resumed run reloads it from the checkpoint
        return super().train(*args, **kwargs)

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model: nn.Module | None = None) -> None:
        super()._load_from_checkpoint(resume_from_checkpoint, model)
        if self.weight_averaging is not None:
            from transformers.trainer_callback import TrainerState

            state = TrainerState.load_from_json(os.path.join(resume_from_checkpoint, "trainer_state.json"))
            self.weight_averaging.load(resume_from_checkpoint, self.model, state.global_step, state.max_steps)

    def _save_checkpoint(self, model: nn.Module, trial: Any) -> None:
        # the average first: a checkpoint whose trainer state is written also has its average
        if self.weight_averaging is not None and self.args.should_save:
            folder = os.path.join(self._get_output_dir(trial=trial), f"checkpoint-{self.state.global_step}")
            self.weight_averaging.save(folder)
        super()._save_checkpoint(model, trial)

    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        with _no_vocabulary_lookup(self.model):
            super()._save(output_dir, state_dict)
        if _is_peft(self.model) or not isinstance(self.model, PreTrainedModel) or not self.args.should_save:
            return
        # transformers 5 writes some architectures under their old parameter names (ViT: vit.encoder.layer.N)
        # but Trainer reloads checkpoints (best model, --resume) by the current names with strict=False: the
        # encoder would silently keep its last-step weights. Checkpoints keep the current names.
        from safetensors.torch import save_model

        save_model(
            self.model,
            os.path.join(output_dir or self.args.output_dir, "model.safetensors"),
            metadata={"format": "pt"},
        )

    @contextmanager
    def saved_precision(self) -> Iterator[None]:
        """Forward passes in the precision of the saved weights (fp32), not under the mixed-precision autocast
        that accelerate wraps around `model.forward` for training: the figures a run reports after training
        (test, final validation, thresholds) are then what every loader of model/ gets."""
        model, accelerator = self.model, self.accelerator
        original = model.__dict__.get("_original_forward")  # accelerate keeps the unwrapped forward here
        wrapped = model.__dict__.get("forward")
        amp, accelerator.native_amp = accelerator.native_amp, False  # a model first prepared by predict
        if original is not None:
            model.forward = original
        try:
            yield
        finally:
            accelerator.native_amp = amp
            if original is not None:
                model.forward = wrapped

    def create_optimizer(self, model: nn.Module | None = None):
        if self.layerwise_lr_decay is None or self.optimizer is not None:
            return super().create_optimizer(model) if model is not None else super().create_optimizer()
        model = self.model if model is None else model
        groups = layerwise_param_groups(
            model, self.args.learning_rate, self.layerwise_lr_decay, self.args.weight_decay
        )
        optimizer_cls, optimizer_kwargs = self.get_optimizer_cls_and_kwargs(self.args, model)
        optimizer_kwargs.pop("lr", None)
        self.optimizer = optimizer_cls(groups, lr=self.args.learning_rate, **optimizer_kwargs)
        return self.optimizer


def _logits(outputs: Any) -> torch.Tensor:
    return outputs["logits"] if isinstance(outputs, dict) else outputs[0]


def _is_peft(model: nn.Module) -> bool:
    return hasattr(model, "peft_config")


@contextmanager
def _no_vocabulary_lookup(model: nn.Module) -> Iterator[None]:
    """A LoRA checkpoint saved with `save_embedding_layers=False`: peft's "auto" asks the Hub, on every
    checkpoint, whether a Hub-id base resized its vocabulary (and warns "Could not find a config file" when
    offline); fieldtune never resizes or adapts the token embeddings."""
    if not _is_peft(model):
        yield
        return
    model.save_pretrained = functools.partial(type(model).save_pretrained, model, save_embedding_layers=False)
    try:
        yield
    finally:
        del model.save_pretrained


def keep_frozen_in_eval(model: nn.Module) -> None:
    """Trainer calls model.train() every step; frozen parts stay in eval mode (BatchNorm statistics and
    dropout untouched), as a frozen backbone should (and as the feature-cached probe assumes)."""
    for module in _frozen_subtrees(model):
        module.eval()


def _frozen_subtrees(module: nn.Module) -> list[nn.Module]:
    params = list(module.parameters())
    if params and not any(p.requires_grad for p in params):
        return [module]
    return [m for child in module.children() for m in _frozen_subtrees(child)]


def layerwise_param_groups(model: nn.Module, lr: float, decay: float, weight_decay: float) -> list[dict]:
    """Head at `lr`; block i of L (from the top) at lr * decay**i; embeddings and stem below the lowest block.

    Backbone parameters registered after the block stack (BERT's pooler, ViT's final LayerNorm, MobileNetV2's
    last 1x1 convolution) sit above the top block, so they train at the head's rate, not the stem's. The
    exception is what the stack's own container (an encoder holding nothing before its blocks) keeps beside
    them: MPNet's `encoder.relative_attention_bias`, DeBERTa's `encoder.rel_embeddings`. Every block reads
    it, the lowest included, and it is a (relative) position embedding: it trains with the embeddings."""
    stack = backbone_blocks(model)
    blocks = list(stack)
    depth_of: dict[int, int] = {}
    for i, block in enumerate(blocks):
        for p in block.parameters():
            depth_of[id(p)] = len(blocks) - i
    shared = _shared_by_blocks(model, stack)
    groups: dict[tuple[int, bool], dict] = {}
    past_blocks = False  # parameters come in registration order: stem, blocks, what is above them, head
    for name, p in model.named_parameters():
        past_blocks = past_blocks or id(p) in depth_of
        if not p.requires_grad:
            continue
        if id(p) in depth_of:
            depth = depth_of[id(p)]
        elif not past_blocks or id(p) in shared:
            depth = len(blocks) + 1  # embeddings / stem, and what every block shares: below every block
        else:
            depth = 0  # the head, and what the backbone puts on top of its blocks
        no_decay = p.ndim < 2 or "norm" in name.lower() or name.endswith("bias")
        key = (depth, no_decay)
        group = groups.setdefault(
            key, {"params": [], "lr": lr * decay**depth, "weight_decay": 0.0 if no_decay else weight_decay}
        )
        group["params"].append(p)
    return list(groups.values())


def _shared_by_blocks(model: nn.Module, stack: nn.ModuleList) -> set[int]:
    """Ids of the parameters that the stack's container holds beside the blocks, when that container is an
    encoder (its first parameter is a block's). A container that starts with the stem is the backbone
    itself (MobileNetV2), and what it registers after its blocks is on top of them."""
    in_stack = {id(p) for p in stack.parameters()}
    parent = next(m for m in model.modules() if any(c is stack for c in m.children()))
    params = list(parent.parameters())
    if id(params[0]) not in in_stack:
        return set()
    return {id(p) for p in params if id(p) not in in_stack}
