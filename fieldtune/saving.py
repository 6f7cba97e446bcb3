"""Saving models in plain Hugging Face format, and merging LoRA adapters into plain transformers models."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from torch import nn

from fieldtune.errors import RunDirError


def is_peft_model(model: nn.Module) -> bool:
    return hasattr(model, "peft_config") and hasattr(model, "merge_and_unload")


def save_model(model: nn.Module, processor: Any, model_dir: Path, base_model: str) -> None:
    """`save_pretrained` into `model_dir` (written in a temp folder, then moved into place).

    A LoRA model saves adapter + head (`adapter_*`), plus the task config (`config.json` with id2label)
    so fieldtune and readers see the labels; `base_model_name_or_path` is the name the user gave.
    """
    model_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=model_dir.parent, prefix=".model-"))
    try:
        if is_peft_model(model):
            for cfg in model.peft_config.values():
                cfg.base_model_name_or_path = base_model
            model.save_pretrained(tmp)
            base = model.get_base_model()
            base.config.architectures = [
                type(base).__name__
            ]  # the backbone's own config may say e.g. BertModel
            base.config.save_pretrained(tmp)
        else:
            model.save_pretrained(tmp)
        if processor is not None:
            processor.save_pretrained(tmp)
        if model_dir.exists():
            shutil.rmtree(model_dir)
        tmp.rename(model_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def merge_adapter(model_dir: Path, out: Path) -> Path:
    """Load an adapter folder, merge LoRA into the base weights, save a plain transformers model to `out`."""
    from fieldtune.inference import load_for_inference

    loaded = load_for_inference(model_dir)
    if not is_peft_model(loaded.model):
        raise RunDirError(
            f"{model_dir} holds full weights, not a LoRA adapter; there is nothing to merge (copy it as is)."
        )
    merged = loaded.model.merge_and_unload()
    merged.config.name_or_path = ""
    save_model(merged, loaded.processor, out, base_model="")
    return out
