"""Exporting a trained model: LoRA merged into a plain transformers model."""

from __future__ import annotations

from pathlib import Path

from fieldtune.baselines.ensemble import carry_ensemble
from fieldtune.errors import RunDirError
from fieldtune.inference.load import load_for_inference
from fieldtune.rundir.layout import is_baseline_folder
from fieldtune.rundir.saving import is_peft_model, save_model


def merge_adapter(model_dir: Path, out: Path) -> Path:
    """Load an adapter folder, merge LoRA into the base weights, save a plain transformers model to `out`."""
    if is_baseline_folder(model_dir):
        raise RunDirError(
            f"{model_dir} holds a scikit-learn baseline, not a LoRA adapter; there is nothing to merge."
        )
    loaded = load_for_inference(model_dir, ensemble=False)
    if not is_peft_model(loaded.model):
        raise RunDirError(
            f"{model_dir} holds full weights, not a LoRA adapter; there is nothing to merge (copy it as is)."
        )
    merged = loaded.model.merge_and_unload()
    merged.config.name_or_path = ""
    save_model(merged, loaded.processor, out, base_model="")
    carry_ensemble(model_dir, out)  # an ensemble run's merged folder predicts as the run
    return out
