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
    collate = TextCollator(tok)
    short = collate([out["train"][0], out["train"][1]])
    assert short["input_ids"].shape[1] == max(
        out["train"]["length"][:2]
    )  # padded to the batch, not to 32 / 128
    assert short["labels"].tolist() == [0, 1]


class _CountingTokenizer:
    """A tokenizer that counts how often it is called (everything else is the real one)."""

    def __init__(self, tokenizer):
        self.tokenizer, self.calls = tokenizer, 0

    def __getattr__(self, name):
        return getattr(self.tokenizer, name)

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.tokenizer(*args, **kwargs)


def _orders(texts):
    features = Features({"text": Value("string"), "label": ClassLabel(names=["a", "b"])})
    labels = [i % 2 for i in range(len(texts))]
    return DatasetDict({"train": Dataset.from_dict({"text": texts, "label": labels}, features=features)})


def test_tokens_are_cached_on_disk_and_reused_by_the_next_run(tiny_bert, tmp_path):
    texts = ["a few boxes", "two pallets of rice", "urgent cement order", "steel bars"]
    tok = _CountingTokenizer(AutoTokenizer.from_pretrained(tiny_bert))
    first = tokenize_dataset(_orders(texts), tok, max_length=32, cache_dir=tmp_path)
    assert tok.calls > 0
    files = sorted(tmp_path.glob("tokens-train-*.arrow"))
    assert len(files) == 1
    mtime = files[0].stat().st_mtime_ns

    tok.calls = 0  # a new run: the same data built again in memory, the same tokenizer and limit
    second = tokenize_dataset(_orders(texts), tok, max_length=32, cache_dir=tmp_path)
    assert tok.calls == 0
    assert second["train"]["input_ids"] == first["train"]["input_ids"]
    assert sorted(tmp_path.glob("tokens-train-*.arrow")) == files and files[0].stat().st_mtime_ns == mtime

    tokenize_dataset(_orders(texts), tok, max_length=8, cache_dir=tmp_path)  # another limit
    assert tok.calls > 0
    tok.calls = 0
    tokenize_dataset(_orders([*texts[:3], "copper wire"]), tok, max_length=32, cache_dir=tmp_path)
    assert tok.calls > 0  # other data
    assert len(list(tmp_path.glob("tokens-train-*.arrow"))) == 3


def test_token_cache_key_follows_the_tokenizer(tiny_bert):
    from fieldtune.inputs.text import tokens_cache_key

    tok = AutoTokenizer.from_pretrained(tiny_bert)
    other = AutoTokenizer.from_pretrained(tiny_bert, do_lower_case=False)
    assert tokens_cache_key("f", tok, 32) == tokens_cache_key(
        "f", AutoTokenizer.from_pretrained(tiny_bert), 32
    )
    assert tokens_cache_key("f", tok, 32) != tokens_cache_key("f", other, 32)
