"""The probe's feature cache: keyed by the backbone's tensors (not its head), the data and the eval transform;
a second probe on the same backbone reads the features back and trains the same head."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from fieldtune.trainers.feature_cache import backbone_digest, cache_dir, cached_features, feature_key
from fieldtune.training.run import run
from tests.test_train_vision import tiny_vision, vision_config


def _tiny_vit():
    from transformers import ViTConfig, ViTForImageClassification

    torch.manual_seed(0)
    config = ViTConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16, image_size=32, patch_size=8)  # fmt: skip
    return ViTForImageClassification(config)


def test_digest_follows_the_backbone_not_the_head():
    model = _tiny_vit()
    first = backbone_digest(model, ["classifier"])
    with torch.no_grad():
        model.classifier.weight.add_(1.0)  # another seed's head: the same features
    assert backbone_digest(model, ["classifier"]) == first
    with torch.no_grad():
        model.vit.embeddings.patch_embeddings.projection.weight[0, 0, 0, 0] += 1e-3
    assert backbone_digest(model, ["classifier"]) != first


def test_features_are_computed_once_per_row_and_a_damaged_shard_is_replaced(tmp_path):
    calls = []
    table = {"a": [0.0, 1.0], "b": [2.0, 3.0], "c": [4.0, 5.0]}

    def compute_for(rows):
        def compute(index):
            calls.append([rows[i] for i in index])
            return torch.tensor([table[rows[i]] for i in index])

        return compute

    key = feature_key("digest", None, "fp32")
    assert key != feature_key("digest", None, "bf16")
    first = ["a", "b", "a"]  # a repeated image is extracted once
    assert torch.equal(
        cached_features(key, first, compute_for(first), "train"), torch.tensor([table[r] for r in first])
    )
    second = ["c", "b"]  # another fold: only the row no earlier call saw
    assert torch.equal(
        cached_features(key, second, compute_for(second), "validation"),
        torch.tensor([table["c"], table["b"]]),
    )
    assert calls == [["a", "b"], ["c"]]
    assert torch.equal(
        cached_features(key, second, compute_for(second), "validation"),
        torch.tensor([table["c"], table["b"]]),
    )
    assert len(calls) == 2
    shards = sorted((cache_dir() / key).glob("*.pt"))
    assert len(shards) == 2
    for shard in shards:
        shard.write_bytes(b"not a tensor file")
    assert torch.equal(
        cached_features(key, second, compute_for(second), "train"), torch.tensor([table["c"], table["b"]])
    )
    assert calls[-1] == ["c", "b"] and len(list((cache_dir() / key).glob("*.pt"))) == 1  # damaged shards gone


def test_a_second_extraction_waits_for_the_first_and_reads_its_features():
    """Two fold workers asking for the same rows at once: the second waits on the cache folder's lock,
    then reads the first one's shard instead of extracting the rows again."""
    import threading
    import time

    key, rows = feature_key("digest-lock", None, "fp32"), ["x", "y"]
    inside, release, calls, second = threading.Event(), threading.Event(), [], []

    def slow(index):
        calls.append("first")
        inside.set()
        release.wait()
        return torch.ones(len(index), 2)

    def fast(index):
        calls.append("second")
        return torch.zeros(len(index), 2)

    first = threading.Thread(target=cached_features, args=(key, rows, slow, "fold 0"))
    first.start()
    inside.wait()
    other = threading.Thread(target=lambda: second.append(cached_features(key, rows, fast, "fold 1")))
    other.start()
    time.sleep(0.5)  # the second call reaches the lock while the first is still extracting
    release.set()
    first.join(), other.join()
    assert calls == ["first"] and torch.equal(second[0], torch.ones(2, 2))


@pytest.fixture(scope="module")
def vit(tmp_path_factory):
    return tiny_vision(tmp_path_factory.mktemp("vit"), "vit")


def test_second_probe_on_the_same_backbone_reads_the_features(vit, tmp_path, caplog):
    """Two runs, as two trials of a sweep would be: the second extracts nothing and trains the same head."""
    results = []
    for i in range(2):
        cfg = vision_config(vit, "probe", data={"num_samples": 48}, training={"precision": "fp32", "seed": 7})
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="fieldtune.trainers.feature_cache"):
            results.append(run(cfg, output_dir=tmp_path / f"probe-{i}").results["metrics"])
        read = [r for r in caplog.records if "reading cached features" in r.getMessage()]
    assert len(read) == 2  # train and validation features of the second run, both from the first
    assert results[0] == results[1]


# --------------------------------------------------------------------------- text (issue 35)


def _text_probe(model_dir, out, pooling="mean", **method):
    """A probe of the tiny BERT's masked mean. Dropout 0 and random batches (not text's length grouping,
    pointless on fixed-size features): the cached and uncached heads see the same inputs in the same order."""
    from tests.test_train_text import text_config

    config = text_config(
        model_dir,
        model={"pooling": pooling, "dropout": 0.0},
        method={"name": "probe", **method},
        training={
            "precision": "fp32",
            "seed": 7,
            "learning_rate": 1e-2,
            "num_train_epochs": 3,
            "train_sampling_strategy": "random",
        },
    )
    return config, run(config, output_dir=out)


def count_encoder_rows(monkeypatch, encoder: type) -> list[int]:
    """Per `trainer.train()` (not the test predictions after it), how many texts went through `encoder`."""
    from fieldtune.trainers.text import TextTrainer

    rows, during = [], []
    forward, train = encoder.forward, TextTrainer.train

    def counting_forward(self, *args, **kwargs):
        rows.append(len(kwargs.get("input_ids", args[0] if args else None)))
        return forward(self, *args, **kwargs)

    def counted_train(self, *args, **kwargs):
        before = sum(rows)
        out = train(self, *args, **kwargs)
        during.append(sum(rows) - before)
        return out

    monkeypatch.setattr(encoder, "forward", counting_forward)
    monkeypatch.setattr(TextTrainer, "train", counted_train)
    return during


@pytest.fixture
def encoder_rows(monkeypatch):
    from transformers import BertModel

    return count_encoder_rows(monkeypatch, BertModel)


def test_text_probe_runs_the_encoder_once_and_trains_the_same_head(tiny_bert, tmp_path, encoder_rows):
    from fieldtune.datasets_builders import build_dataset
    from fieldtune.inference.load import load_for_inference, predict_logits, text_batches
    from tests.test_train_text import TEXTS

    config, cached = _text_probe(tiny_bert, tmp_path / "cached")
    dd = build_dataset(config.data, config.task)
    assert encoder_rows[0] == len(dd["train"]) + len(dd["validation"])  # each text once, 3 epochs
    _, again = _text_probe(tiny_bert, tmp_path / "again")
    assert encoder_rows[1] == 0  # a second probe on the same encoder and data reads the features back
    _, uncached = _text_probe(tiny_bert, tmp_path / "uncached", feature_cache=False)
    assert encoder_rows[2] >= 3 * len(dd["train"])  # through the frozen encoder every epoch
    assert cached.results["metrics"] == again.results["metrics"]
    logits = [
        predict_logits(m := load_for_inference(r.run_dir), text_batches(m, TEXTS)) for r in (cached, uncached)
    ]
    assert type(m.model).__name__ == "MeanPooledForSequenceClassification"  # saved as the full model
    np.testing.assert_allclose(logits[0], logits[1], atol=1e-4)
    assert cached.results["metrics"]["accuracy"] == pytest.approx(uncached.results["metrics"]["accuracy"])


def test_mpnet_probe_caches_its_mean_and_trains_its_own_head_through_the_encoder(
    tiny_bert, tmp_path, monkeypatch
):
    """MPNet's own head reads the token states (token 0 picked inside): no fixed-size feature to cache, so
    its probe trains through the frozen encoder; with `model.pooling: mean` the head reads one vector and
    the encoder runs once per text."""
    from transformers import AutoTokenizer, MPNetConfig, MPNetModel

    folder = tmp_path / "mpnet"
    tok = AutoTokenizer.from_pretrained(tiny_bert)
    tok.model_input_names = ["input_ids", "attention_mask"]  # MPNet takes no token types
    tok.save_pretrained(folder)
    torch.manual_seed(0)
    config = MPNetConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=130, pad_token_id=0)  # fmt: skip
    MPNetModel(config).save_pretrained(folder)
    rows = count_encoder_rows(monkeypatch, MPNetModel)
    own, _ = _text_probe(folder, tmp_path / "own", pooling=None)
    mean, _ = _text_probe(folder, tmp_path / "mean", pooling="mean")
    from fieldtune.datasets_builders import build_dataset

    dd = build_dataset(own.data, own.task)
    assert rows[0] >= 3 * len(dd["train"])  # every epoch through the encoder
    assert rows[1] == len(dd["train"]) + len(dd["validation"])  # once per text
