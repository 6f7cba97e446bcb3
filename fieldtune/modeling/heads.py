"""Task heads: finding them (top-level modules outside the backbone), fieldtune's MLP head (built at
training, rebuilt from config.json at loading), and folding a regression target's scale into the head so
the saved model predicts real units.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from fieldtune.errors import ModelError


def find_head(model: nn.Module) -> list[str]:
    """Names of the task head modules: top-level children outside the backbone (`classifier`, `score`, ...)."""
    prefix = getattr(model, "base_model_prefix", "")
    head = [
        name
        for name, child in model.named_children()
        if name != prefix and any(True for _ in child.parameters())
    ]
    if not head:
        raise ModelError(
            f"{type(model).__name__} has no task head outside its backbone; it cannot be fine-tuned for this task."
        )
    return head


def replace_with_mlp_head(model: nn.Module, head: list[str], hidden_size: int, dropout: float) -> None:
    """Swap the final Linear of the head for Linear -> GELU -> Dropout -> Linear (seed 004's MLP head)."""
    name, linear = last_linear(model, head)
    mlp = nn.Sequential(
        nn.Linear(linear.in_features, hidden_size),
        nn.GELU(),
        nn.Dropout(dropout),
        nn.Linear(hidden_size, linear.out_features),
    )
    parent, _, attr = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, attr, mlp)


def restore_custom_head(model: nn.Module, model_dir: Path | None) -> None:
    """Rebuild a fieldtune MLP head recorded in config.json and load its weights (full models); a model
    class that builds the recorded head itself (the mean-pooled classifier) is left as it is."""
    spec = getattr(model.config, "fieldtune_head", None)
    if not spec or spec.get("type") != "mlp" or getattr(model, "builds_fieldtune_head", False):
        return
    head = find_head(model)
    replace_with_mlp_head(model, head, int(spec["hidden_size"]), float(spec.get("dropout", 0.0)))
    weights = model_dir / "model.safetensors" if model_dir is not None else None
    if weights is not None and weights.is_file():
        from safetensors.torch import load_file

        state = {k: v for k, v in load_file(weights).items() if k.split(".")[0] in head}
        model.load_state_dict(state, strict=False)


def last_linear(model: nn.Module, head: list[str]) -> tuple[str, nn.Linear]:
    found = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear) and n.split(".")[0] in head]
    if not found:
        raise ModelError(f"{type(model).__name__} has no linear layer in its head {head}.")
    return found[-1]


@torch.no_grad()
def fold_target_scale(model: nn.Module, mean: float, std: float) -> None:
    """Regression: make the head output real units (y = std * out + mean) so plain transformers predicts them."""
    layers = [
        m
        for n, m in model.named_modules()
        if isinstance(m, nn.Linear) and m.out_features == 1 and "original_module" not in n
    ]
    if not layers:
        raise ModelError("Cannot find the regression output layer to un-standardise.")
    for layer in layers:  # the trained copy (and, under peft, nothing else has out_features == 1)
        layer.weight.mul_(std)
        if layer.bias is not None:
            layer.bias.mul_(std).add_(mean)
