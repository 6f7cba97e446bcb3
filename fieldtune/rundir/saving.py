"""Saving models in plain Hugging Face format (full weights, or LoRA adapter + head + task config)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from torch import nn


def is_peft_model(model: nn.Module) -> bool:
    return hasattr(model, "peft_config") and hasattr(model, "merge_and_unload")


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
