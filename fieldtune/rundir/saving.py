"""Saving models in plain Hugging Face format (full weights, or LoRA adapter + head + task config)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from torch import nn


def is_peft_model(model: nn.Module) -> bool:
    return hasattr(model, "peft_config") and hasattr(model, "merge_and_unload")


def save_resampled_table(model: nn.Module, folder: Path, state_dict: dict | None = None) -> None:
    """A backbone trained at another `data.image_size` has resampled position embeddings, which are not in
    the base checkpoint: they join the adapter file, where peft (fieldtune or not) loads them as they are."""
    from safetensors.torch import load_file, save_file

    from fieldtune.modeling.create import position_table_name

    name = position_table_name(model)
    if (
        name is None
        or not (folder / "adapter_model.safetensors").is_file()
        or getattr(model.get_base_model().config, "fieldtune_resampled_from", None) is None
    ):
        return
    table = (state_dict or {}).get(name)
    table = model.get_parameter(name) if table is None else table
    weights = load_file(folder / "adapter_model.safetensors")
    weights[name] = table.detach().cpu().contiguous()
    save_file(weights, folder / "adapter_model.safetensors", metadata={"format": "pt"})


def save_model(
    model: nn.Module, processor: Any, model_dir: Path, base_model: str, state_dict: dict | None = None
) -> None:
    """`save_pretrained` into `model_dir` (written in a temp folder, then moved into place).

    A LoRA model saves adapter + head (`adapter_*`), plus the task config (`config.json` with id2label)
    so fieldtune and readers see the labels; `base_model_name_or_path` is the name the user gave.
    `state_dict`: the full weights when the model's own are shards (FSDP), gathered by every process.
    """
    weights = {"state_dict": state_dict} if state_dict is not None else {}
    model_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=model_dir.parent, prefix=".model-"))
    try:
        if is_peft_model(model):
            for cfg in model.peft_config.values():
                cfg.base_model_name_or_path = base_model
            # "auto" would ask the Hub for the base's config.json (to spot a resized vocabulary) whenever
            # base_model is a Hub id, packaged MiniLM included; fieldtune never resizes or targets the embeddings.
            model.save_pretrained(tmp, save_embedding_layers=False, **weights)
            save_resampled_table(model, tmp, state_dict)
            base = model.get_base_model()
            base.config.architectures = [
                type(base).__name__
            ]  # the backbone's own config may say e.g. BertModel
            base.config.save_pretrained(tmp)
        else:
            model.save_pretrained(tmp, **weights)
        if processor is not None:
            processor.save_pretrained(tmp)
        if model_dir.exists():
            shutil.rmtree(model_dir)
        tmp.rename(model_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
