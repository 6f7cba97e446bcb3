"""Shared fixtures: offline Hub, tiny models built from configs, generated data. Nothing from ../shared."""

from __future__ import annotations

import os

# Before transformers / huggingface_hub are imported: tests never touch the network or xet.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_XET"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from tests.helpers import make_hs_table, make_tiny_bert, write_demand_csv  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIELDTUNE_CACHE", str(tmp_path_factory.getbasetemp() / "fieldtune-cache"))


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random 2-layer BERT with a word-level vocabulary, saved like a Hub checkpoint."""
    return make_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def demand_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_demand_csv(tmp_path_factory.mktemp("data") / "orders.csv", n=120)


@pytest.fixture(scope="session")
def hs_table(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_hs_table(tmp_path_factory.mktemp("hs"))


@pytest.fixture(scope="session")
def tiny_cjk_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random 2-layer BERT whose tokenizer splits Chinese characters, with a vocabulary of them."""
    from tests.helpers_zh import make_tiny_cjk_bert

    return make_tiny_cjk_bert(tmp_path_factory.mktemp("tiny-cjk-bert"))


@pytest.fixture(scope="session")
def tag_lora_run(tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory):
    """A multi-label LoRA run on the tiny BERT (thresholds tuned on validation), shared by the tests."""
    from fieldtune.training.run import run
    from tests.test_multilabel import tag_config, vocab_words, write_tagged

    data = write_tagged(tmp_path_factory.mktemp("tags-lora") / "notes.jsonl", vocab_words(tiny_bert))
    config = tag_config(tiny_bert, data, num_train_epochs=10, learning_rate=1e-2)
    config.method.name, config.method.lora_r = "lora", 4
    return run(config, output_dir=tmp_path_factory.mktemp("runs") / "tags-lora")
