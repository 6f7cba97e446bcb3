"""Builders of tiny models and generated data for the tests."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import torch

from fieldtune.datasets_builders.logistics_demand import generate_logistics_demand

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def make_tiny_bert(folder: Path) -> Path:
    """BertForMaskedLM-free backbone: a random `BertModel` + word-level WordPiece vocabulary."""
    words = set()
    for note in generate_logistics_demand(300, seed=1)["note"]:
        words.update(re.findall(r"[a-z]+|[0-9]+|[^\sa-z0-9]", note.lower()))
    words.update("abcdefghijklmnopqrstuvwxyz0123456789.,;:-()")
    vocab = SPECIAL + sorted(words)
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    return save_tiny_bert(folder, vocab)


def save_tiny_bert(folder: Path, vocab: list[str], **tokenizer_options: object) -> Path:
    """A random 2-layer `BertModel` over `vocab` and its WordPiece tokenizer, saved like a Hub checkpoint."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    # transformers 5 builds the fast tokenizer from `vocab` (a `vocab_file` alone is ignored: all [UNK])
    tokenizer = BertTokenizerFast(
        vocab={w: i for i, w in enumerate(vocab)}, do_lower_case=True, **tokenizer_options
    )
    tokenizer.model_max_length = 64
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=128,
    )  # fmt: skip
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def make_sentence_transformers(folder: Path, source: Path, pooling: str = "mean") -> Path:
    """`source` (a tiny BERT) saved as a sentence-transformers checkpoint: its files plus `modules.json` and
    `1_Pooling/config.json`, pooling by `pooling` (mean, cls or max), as all-MiniLM-L6-v2 ships."""
    import shutil

    shutil.copytree(source, folder, dirs_exist_ok=True)
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ]
    (folder / "modules.json").write_text(json.dumps(modules, indent=2))
    (folder / "1_Pooling").mkdir(exist_ok=True)
    modes = {
        f"pooling_mode_{m}_{kind}": m == pooling
        for m, kind in (("cls", "token"), ("mean", "tokens"), ("max", "tokens"))
    }
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({"word_embedding_dimension": 32, **modes}))
    return folder


def write_demand_csv(path: Path, n: int = 120, seed: int = 3) -> Path:
    generate_logistics_demand(n, seed).to_csv(path, index=False)
    return path


def make_hs_table(folder: Path) -> Path:
    """A small table shaped like harmonized-system.csv (levels 2/4/6, a TOTAL row, leading zeros)."""
    rows = [{"section": "TOTAL", "hscode": "TOTAL", "description": "all", "parent": "", "level": "0"}]
    goods = {
        "I": ["live horses", "live cattle", "frozen fish fillets", "fresh milk"],
        "II": ["fresh tomatoes", "rice in the husk", "wheat flour", "green coffee"],
        "XV": ["steel bars", "copper wire", "aluminium plates", "iron nails"],
    }
    for s, (section, items) in enumerate(goods.items()):
        for i in range(12):
            code = f"{s:02d}{i % 4:02d}{i:02d}"
            rows.append(
                {
                    "section": section,
                    "hscode": code,
                    "description": f"{items[i % 4]} grade {i}",
                    "parent": code[:4],
                    "level": "6",
                }
            )
        rows.append(
            {
                "section": section,
                "hscode": f"{s:02d}",
                "description": "chapter",
                "parent": "TOTAL",
                "level": "2",
            }
        )
    pd.DataFrame(rows).to_csv(folder / "harmonized-system.csv", index=False)
    return folder


# Plain peft / transformers in a process that never imports fieldtune: what a user without it gets.
# Text: `inputs` is a list of texts; images: {"pixels": a .npy of pixel_values, "files": images for the pipeline}.
WITHOUT_FIELDTUNE = """
import json, sys
import numpy as np
import torch
from peft import AutoPeftModelForSequenceClassification, PeftConfig, PeftModel
from transformers import AutoConfig, AutoModelForImageClassification, AutoTokenizer, pipeline

adapter, merged, inputs = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
config = AutoConfig.from_pretrained(adapter)
images = isinstance(inputs, dict)
if images:  # peft has no Auto class with an image head: the base model gets the adapter's head config
    base = AutoModelForImageClassification.from_pretrained(
        PeftConfig.from_pretrained(adapter).base_model_name_or_path, config=config, ignore_mismatched_sizes=True
    )
    model = PeftModel.from_pretrained(base, adapter).eval()
else:
    model = AutoPeftModelForSequenceClassification.from_pretrained(
        adapter, num_labels=config.num_labels, id2label=config.id2label, label2id=config.label2id
    ).eval()
with torch.no_grad():
    if images:
        batch = {"pixel_values": torch.from_numpy(np.load(inputs["pixels"]))}
    else:
        batch = AutoTokenizer.from_pretrained(adapter)(inputs, padding=True, return_tensors="pt")
    logits = model(**batch).logits.tolist()
kind, served = ("image-classification", inputs["files"]) if images else ("text-classification", inputs)
served = pipeline(kind, model=merged, top_k=None)(served) if merged else None
assert not any(m.startswith("fieldtune") for m in sys.modules)
print(json.dumps({"peft_logits": logits, "pipeline": served}))
"""


def without_fieldtune(adapter: Path, inputs: list[str] | dict, merged: Path | None = None) -> dict:
    """A LoRA adapter folder's logits through plain peft and, given a merged folder, its
    `pipeline(..., top_k=None)` output, computed in a subprocess without fieldtune. `inputs`: texts, or
    `{"pixels": "x.npy", "files": [...]}` for an image model."""
    args = [str(adapter), str(merged or ""), json.dumps(inputs)]
    proc = subprocess.run(
        [sys.executable, "-c", WITHOUT_FIELDTUNE, *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])
