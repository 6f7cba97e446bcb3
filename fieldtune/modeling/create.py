"""One door to a model: `create_model` loads the backbone with a head for the user's labels and
applies the method (its row in `modeling.methods`: adapter, frozen backbone). Also: adapter (LoRA) targets per architecture, the backbone's
dropout and token table, and the BatchNorm momentum repair. Heads live in `fieldtune.modeling.heads`.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from torch import nn

from fieldtune.config import MethodConfig, ModelConfig
from fieldtune.errors import ModelError
from fieldtune.modeling.checkpoint import (  # noqa: F401  (PACKAGED_MODELS: tests patch it here)
    PACKAGED_MODELS,
    check_max_length,
    load_model_config,
    resolve_model_path,
    weights_error,
)
from fieldtune.modeling.dropout import set_backbone_dropout
from fieldtune.modeling.heads import find_head, replace_with_mlp_head
from fieldtune.modeling.methods import get_method
from fieldtune.modeling.pooling import mean_pooled, resolve_pooling
from fieldtune.tasks.table import Task

logger = logging.getLogger(__name__)


@dataclass
class ModelInfo:
    trainable_params: int
    total_params: int
    head_modules: list[str]
    pooling: str = "cls"  # `mean`: the head reads the masked mean of the token states


def auto_class(task: Task) -> Any:
    import transformers

    return getattr(transformers, task.auto_class)


def backbone_blocks(model: nn.Module) -> nn.ModuleList:
    """The backbone's stack of layers / stages (the largest ModuleList): what `freeze` unfreezes from the top."""
    base = getattr(model, "base_model", model)
    lists = [m for m in base.modules() if isinstance(m, nn.ModuleList) and len(m) > 0]
    if not lists:
        raise ModelError(f"Cannot find the layer stack of {type(model).__name__}; use method full or lora.")
    return max(lists, key=lambda m: sum(p.numel() for p in m.parameters()))


def lora_targets(model: nn.Module, head: list[str], requested: list[str] | None) -> list[str] | str:
    """What LoRA wraps; never a head module.

    By default: every Linear and Conv2d inside the backbone's layer stack (attention and MLP projections of
    BERT / ViT, the convolutions of ResNet / MobileNet / ConvNeXt stages), named in full, so a renamed
    module in a new transformers release or a shared suffix (`dense` in BERT's pooler) cannot slip through.
    `requested` suffixes are checked against the model and matched outside the head.
    """
    candidates = [
        n
        for n, m in model.named_modules()
        if isinstance(m, (nn.Linear, nn.Conv2d)) and n.split(".")[0] not in head
    ]
    if requested:
        for target in requested:
            if not any(n == target or n.endswith("." + target) for n in candidates):
                suffixes = sorted({n.rsplit(".", 1)[-1] for n in candidates})
                raise ModelError(
                    f"`method.target_modules`: the model has no module {target!r}; its Linear/Conv2d modules are "
                    f"named {', '.join(suffixes[:12])}."
                )
        heads = "|".join(map(re.escape, head))
        return rf"^(?!({heads})\.)(.*\.)?({'|'.join(map(re.escape, requested))})$"
    blocks = backbone_blocks(model)
    in_blocks = {id(m) for m in blocks.modules()}
    return [
        n for n, m in model.named_modules() if id(m) in in_blocks and isinstance(m, (nn.Linear, nn.Conv2d))
    ]


def apply_method(model: nn.Module, task: Task, method: MethodConfig, head: list[str]) -> nn.Module:
    """Freeze / wrap the model as the method says; returns the model to train (a PeftModel for an adapter)."""
    row = get_method(method.name)
    if row.adapter is not None:  # the method builds its own peft config; what it wraps is found here
        from peft import get_peft_model

        targets = lora_targets(model, head, method.target_modules)
        return get_peft_model(model, row.adapter(method, targets, head, task.inputs.peft_task_type))
    if row.freezes_backbone:
        for p in model.parameters():
            p.requires_grad = False
        if top := row.top_layers(method):
            blocks = backbone_blocks(model)
            for block in list(blocks)[len(blocks) - top :]:
                for p in block.parameters():
                    p.requires_grad = True
        for name in head:
            for p in model.get_submodule(name).parameters():
                p.requires_grad = True
    return model


def count_params(model: nn.Module) -> tuple[int, int]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total


def position_table_name(model: nn.Module) -> str | None:
    """The full parameter name of a ViT-style absolute position-embedding table (None: the model has none)."""
    for name, param in model.named_parameters():
        if name.endswith("embeddings.position_embeddings") and param.ndim == 3:
            return name
    return None


@torch.no_grad()
def resize_position_embeddings(model: nn.Module, image_size: int) -> None:
    """ViT-style models at another input size: resample the position embeddings once (bicubic, as timm
    does) and record the size in the config, so the saved model runs natively at `image_size`."""
    config = model.config
    old = getattr(config, "image_size", None)
    embeddings = getattr(getattr(model, "base_model", model), "embeddings", None)
    table = getattr(embeddings, "position_embeddings", None)
    if old is None or old == image_size or not isinstance(table, nn.Parameter) or table.ndim != 3:
        return
    patch = config.patch_size
    if image_size % patch:
        raise ModelError(
            f"`data.image_size` {image_size} must be a multiple of the model's patch size {patch}."
        )
    extra = table.shape[1] - (old // patch) ** 2  # [CLS] (and distillation) tokens keep their embeddings
    grid_old, grid_new = old // patch, image_size // patch
    grid = table[:, extra:].reshape(1, grid_old, grid_old, -1).permute(0, 3, 1, 2)
    grid = nn.functional.interpolate(
        grid.float(), size=(grid_new, grid_new), mode="bicubic", align_corners=False
    )
    grid = grid.permute(0, 2, 3, 1).reshape(1, grid_new * grid_new, -1).to(table.dtype)
    embeddings.position_embeddings = nn.Parameter(torch.cat([table[:, :extra], grid], dim=1))
    config.image_size = image_size
    # a LoRA adapter does not hold the backbone: `rundir.saving` stores this table with it, loaders resample
    config.fieldtune_resampled_from = old
    for module in (embeddings, getattr(embeddings, "patch_embeddings", None)):  # both check the input size
        if module is not None and hasattr(module, "image_size"):
            module.image_size = (image_size, image_size)
    if hasattr(embeddings, "patch_embeddings") and hasattr(embeddings.patch_embeddings, "num_patches"):
        embeddings.patch_embeddings.num_patches = grid_new * grid_new


def create_model(
    model_cfg: ModelConfig,
    task: Task,
    label_names: list[str] | None,
    method: MethodConfig,
    image_size: int | None = None,
    attn_implementation: str | None = None,
    weights: str | None = None,
) -> tuple[nn.Module, ModelInfo]:
    """Load `model_cfg.name_or_path` with a fresh head for `label_names` (or one output for regression);
    `attn_implementation` as `precision.resolve_attention` chose it (None: transformers' default).
    `weights`: a folder whose backbone weights replace the checkpoint's (the encoder the pretraining phase
    adapted); the config, pooling and tokenizer stay the checkpoint's."""
    kwargs: dict[str, Any] = {"problem_type": task.problem_type}
    kwargs |= task.targets.head_labels(label_names)
    config = load_model_config(model_cfg.name_or_path, model_cfg.revision, task=task, **kwargs)
    if task.inputs.tokens:
        check_max_length(config, model_cfg.max_length, model_cfg.name_or_path)
    if model_cfg.dropout is not None:
        set_backbone_dropout(config, model_cfg.dropout)
    path = resolve_model_path(model_cfg.name_or_path)
    cls = auto_class(task)
    attention = {"attn_implementation": attn_implementation} if attn_implementation else {}
    try:
        model = cls.from_pretrained(
            weights or path, config=config, revision=None if weights else model_cfg.revision,
            ignore_mismatched_sizes=True, **attention,
        )  # fmt: skip
    except ValueError as e:
        if attn_implementation and attn_implementation in str(e):
            raise ModelError(
                f"`model.attn_implementation`: {config.model_type} has no {attn_implementation!r} attention; "
                "use auto or eager."
            ) from None
        if "Unrecognized configuration class" in str(e) or "not supported" in str(e):
            raise ModelError(
                f"Model {model_cfg.name_or_path!r} (type {config.model_type}) cannot do {task.name}; "
                f"pick a {task.inputs.backbone} backbone."
            ) from None
        raise
    except SafetensorError as e:
        raise weights_error(path, e, "`model.name_or_path`") from None
    except OSError as e:
        if Path(path).is_dir():  # a local folder: its file is at fault, not the network
            raise weights_error(path, e, "`model.name_or_path`") from None
        raise ModelError(
            f"Cannot load weights of {model_cfg.name_or_path!r}: {str(e).splitlines()[0][:160]}"
        ) from None
    if image_size:
        resize_position_embeddings(model, image_size)
    fix_batchnorm_momentum(model)
    pooling = "cls"
    if task.inputs.token_pooling:
        pooling = resolve_pooling(model_cfg.pooling, path, model_cfg.revision)  # packaged MiniLM: its folder
    if pooling == "mean":
        model = mean_pooled(model)
    head = find_head(model)
    if model_cfg.head == "mlp":
        replace_with_mlp_head(model, head, model_cfg.head_hidden_size, model_cfg.head_dropout)
        # recorded in config.json so loaders can rebuild the head (plain transformers knows only its own heads)
        model.config.fieldtune_head = {
            "type": "mlp",
            "hidden_size": model_cfg.head_hidden_size,
            "dropout": model_cfg.head_dropout,
        }
    model = apply_method(model, task, method, head)
    if method.freeze_embeddings:
        freeze_token_embeddings(model)
    trainable, total = count_params(model)
    return model, ModelInfo(trainable, total, head, pooling)


def freeze_token_embeddings(model: nn.Module) -> None:
    """`method.freeze_embeddings`: the token-embedding table keeps its pretrained values."""
    table = model.get_input_embeddings()
    if not isinstance(table, nn.Embedding):
        raise ModelError(
            f"`method.freeze_embeddings`: {type(model).__name__} has no token-embedding table (it applies to "
            "text models); remove the key."
        )
    table.weight.requires_grad = False


BATCHNORM_MOMENTUM = 0.01  # running stats over ~100 steps: stable, yet close to the final weights


def fix_batchnorm_momentum(model: nn.Module) -> int:
    """Give BatchNorm layers ported with TensorFlow's *decay* as PyTorch's momentum a real momentum.

    transformers' MobileNetV1/V2 build `BatchNorm2d(momentum=0.997)`: in PyTorch that is the weight of the
    *new* batch, so the running statistics are those of the last training batch (its class mix shifted
    every evaluation: lithology validation accuracy jumped 0.73-0.84 between neighbouring epochs).
    Returns how many layers were changed.
    """
    changed = 0
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and (module.momentum or 0) > 0.5:
            module.momentum = BATCHNORM_MOMENTUM
            changed += 1
    if changed:
        logger.info(
            "BatchNorm momentum > 0.5 (TensorFlow decay convention) set to %s in %d layers",
            BATCHNORM_MOMENTUM,
            changed,
        )
    return changed
