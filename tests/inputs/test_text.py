"""Text preprocessing: tokenised once, truncation counted, batches padded to their own longest text."""

from __future__ import annotations

import logging

from datasets import ClassLabel, Dataset, DatasetDict, Features, Value
from transformers import AutoTokenizer

from fieldtune.inputs.prepare import TextCollator
from fieldtune.inputs.text import tokenize_dataset


def test_dynamic_padding_and_truncation_count(tiny_bert, caplog):
    tok = AutoTokenizer.from_pretrained(tiny_bert)
    texts = ["a few boxes", "two pallets of rice sacks for a corner shop", "urgent " * 80]
    features = Features({"text": Value("string"), "label": ClassLabel(names=["a", "b"])})
    dd = DatasetDict({"train": Dataset.from_dict({"text": texts, "label": [0, 1, 0]}, features=features)})
    with caplog.at_level(logging.WARNING):
        out = tokenize_dataset(dd, tok, max_length=32)
    assert "1 of 3 texts were longer than 32 tokens" in caplog.text
    assert out["train"]["length"][2] == 32 and out["train"]["length"][0] < 8
    collate = TextCollator(tok, regression=False)
    short = collate([out["train"][0], out["train"][1]])
    assert short["input_ids"].shape[1] == max(
        out["train"]["length"][:2]
    )  # padded to the batch, not to 32 / 128
    assert short["labels"].tolist() == [0, 1]
