"""The model card's parts for a cross-validation (`fieldtune train --cv K`): the CV mean ± sd of every
metric beside the test table, and, for `cv.final: ensemble`, how plain transformers loads the K folds
(`fold-<i>/` in a pushed repo) and averages them as fieldtune's `FoldEnsemble` does."""

from __future__ import annotations

from typing import Any

from fieldtune.tasks.table import Task


def cv_section(results: dict[str, Any]) -> str:
    """`## Cross-validation`: each metric's mean ± sd and interval over the held-out folds ("" if no CV)."""
    cv = results.get("cv")
    if not cv:
        return ""
    rows = "\n".join(
        f"| {name} | {s['mean']:.4f} ± {s['sd']:.4f} | {s['ci95'][0]:.4f} - {s['ci95'][1]:.4f} |"
        for name, s in cv["metrics"].items()
        if "ci95" in s
    )
    final = (
        f"the {cv['folds']} fold models, their predictions averaged"
        if cv["final"] == "ensemble"
        else f"one model refit on every train + validation row for {cv.get('refit_epochs')} epochs"
    )
    return f"""
## Cross-validation ({cv["folds"]} folds, seed {cv["seed"]})

The train + validation rows were cut into {cv["folds"]} stratified folds; each fold model validated on the
fold it did not train on. The test scores above are the final model's: {final}. `cv_results.json` holds
every fold's figures.

| metric | CV mean ± sd | 95% interval over the folds |
|---|---|---|
{rows}
"""


def fold_usage(task: Task, is_adapter: bool, results: dict[str, Any]) -> str:
    """Plain transformers (or peft, for adapters): load every fold and average, as the scores above did."""
    k = results["cv"]["folds"]
    auto = task.inputs.peft_auto_class if is_adapter else task.auto_class
    processor = "AutoTokenizer" if task.inputs.processor == "tokenizer" else "AutoImageProcessor"
    feed = 'processor(["your text"], padding=True, return_tensors="pt")'
    if processor == "AutoImageProcessor":
        feed = 'processor(Image.open("photo.jpg").convert("RGB"), return_tensors="pt")'
    imports = f"from transformers import {processor}" + (
        f"\nfrom peft import {auto}" if is_adapter else f", {auto}"
    )
    return f"""The model is {k} fold models averaged (`fold-0/` ... `fold-{k - 1}/`, each a complete model):

```python
import torch
{"from PIL import Image" + chr(10) if processor == "AutoImageProcessor" else ""}{imports}

repo = "REPO_ID"  # or each local fold's model/ folder
folds = [{auto}.from_pretrained(repo, subfolder=f"fold-{{i}}").eval() for i in range({k})]
processor = {processor}.from_pretrained(repo, subfolder="fold-0")
inputs = {feed}
with torch.no_grad():
    mean = torch.stack([m(**inputs).logits{task.targets.fold_score} for m in folds]).mean(0)
```
`mean` ({task.targets.ensemble_output}) is what the test scores above were computed from. A local copy of
this repo (`hf download REPO_ID --local-dir DIR`) predicts as the folds averaged with `fieldtune predict DIR`;
`fieldtune export CV_DIR --format onnx` writes all folds as one ONNX graph."""
