"""Parity of `gpu_check.py`: every saved model reloads in plain transformers / peft and predicts what its run
wrote to predictions.csv at the end of training.

`check_runs()` starts this file as a child process that never imports fieldtune (what a user without it
gets: the child checks `sys.modules` at the end). For each run directory the child loads `model/` (a full
model through the Auto classes, a LoRA adapter through peft), predicts the first test rows of
predictions.csv (texts through the saved tokenizer at the recipe's max_length, images through the saved
image processor), in fp32, and compares the predicted labels and top scores.

Tolerances: the run predicted under its training precision (bf16 autocast on most GPUs and on this CPU),
the reload runs in fp32; in fp32 both sides agree to rounding.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROWS = 512  # test rows compared per run
TOLERANCE = {"fp32": (0.99, 2e-3), "half": (0.97, 0.05)}  # (label agreement >=, |score diff| <=)


def check_runs(runs: dict[str, Path], out: Path, timeout: float = 300) -> dict[str, Any]:
    """Run the child on `runs` (name -> run directory); returns {"runs": {name: figures}}."""
    cmd = [sys.executable, str(Path(__file__).resolve()), str(out)]
    cmd += [json.dumps({name: str(path) for name, path in runs.items()})]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0 or not out.is_file():
        raise RuntimeError(f"the parity process failed (exit {proc.returncode}): {proc.stderr[-2000:]}")
    return json.loads(out.read_text())


# --------------------------------------------------------------------------- child (no fieldtune)


def _load(model_dir: Path, images: bool) -> tuple[Any, Any]:
    from transformers import (
        AutoConfig,
        AutoImageProcessor,
        AutoModelForImageClassification,
        AutoModelForSequenceClassification,
        AutoTokenizer,
    )

    config = AutoConfig.from_pretrained(model_dir)
    auto = AutoModelForImageClassification if images else AutoModelForSequenceClassification
    if (model_dir / "adapter_config.json").is_file():  # LoRA: the adapter on its base model, through peft
        from peft import PeftConfig, PeftModel

        base_path = PeftConfig.from_pretrained(model_dir).base_model_name_or_path
        base = auto.from_pretrained(base_path, config=config, ignore_mismatched_sizes=True)
        model = PeftModel.from_pretrained(base, model_dir)
    else:
        model = auto.from_pretrained(model_dir)
    processor = (AutoImageProcessor if images else AutoTokenizer).from_pretrained(model_dir)
    return model.eval(), processor


def _predict(run_dir: Path, table: Any, images: bool) -> tuple[list[str], list[float]]:
    import torch
    import yaml

    model, processor = _load(run_dir / "model", images)
    max_length = (yaml.safe_load((run_dir / "config.yaml").read_text()).get("model") or {}).get("max_length")
    labels, scores = [], []
    column = table["file" if images else "text"].tolist()
    with torch.no_grad():
        for start in range(0, len(column), 64):
            chunk = column[start : start + 64]
            if images:
                from PIL import Image

                batch = processor([Image.open(f).convert("RGB") for f in chunk], return_tensors="pt")
            else:
                batch = processor(
                    chunk, padding=True, truncation=True, max_length=max_length, return_tensors="pt"
                )
            probs = torch.softmax(model(**batch).logits.float(), -1)
            top = probs.max(-1)
            labels += [model.config.id2label[int(i)] for i in top.indices]
            scores += top.values.tolist()
    return labels, scores


def check_one(run_dir: Path) -> dict[str, Any]:
    import pandas as pd

    table = pd.read_csv(run_dir / "predictions.csv").head(ROWS)
    if (run_dir / "model" / "ensemble_baseline").is_dir():  # fieldtune's ensemble: not a plain model
        return {"ok": False, "error": "an ensemble run: predictions.csv mixes in model/ensemble_baseline/, which "
                "plain transformers does not load; run it with --ensemble.baseline_weight=0"}  # fmt: skip
    if "score" not in table.columns:
        return {"ok": False, "error": "predictions.csv has no `score` column: not a single-label class run"}
    precision = json.loads((run_dir / "eval_results.json").read_text()).get("precision", "fp32")
    labels, scores = _predict(run_dir, table, images="file" in table.columns)
    agreement = sum(a == str(b) for a, b in zip(labels, table["predicted"], strict=True)) / len(labels)
    diff = max(abs(a - float(b)) for a, b in zip(scores, table["score"], strict=True))
    need_agreement, max_diff = TOLERANCE["fp32" if precision == "fp32" else "half"]
    return {
        "rows": len(labels),
        "run_precision": precision,
        "adapter": (run_dir / "model" / "adapter_config.json").is_file(),
        "agreement": agreement,
        "max_score_diff": diff,
        "tolerance": {"agreement_at_least": need_agreement, "score_diff_at_most": max_diff},
        "ok": agreement >= need_agreement and diff <= max_diff,
    }


def child(out: Path, runs: dict[str, str]) -> None:
    import traceback

    results: dict[str, Any] = {}
    for name, path in runs.items():
        try:
            results[name] = check_one(Path(path))
        except Exception as e:  # one broken model must not hide the others
            results[name] = {
                "ok": False,
                "error": f"{type(e).__name__}: {e}",
                "traceback": traceback.format_exc(),
            }
    imported = sorted(m for m in sys.modules if m == "fieldtune" or m.startswith("fieldtune."))
    if imported:  # the point of the check: a user's plain transformers / peft, without fieldtune
        for r in results.values():
            r.update(ok=False, error=f"fieldtune was imported: {imported[:3]}")
    out.write_text(json.dumps({"runs": results, "fieldtune_imported": bool(imported)}, indent=2))


if __name__ == "__main__":
    child(Path(sys.argv[1]), json.loads(sys.argv[2]))
