"""The probe's feature cache: keyed by the backbone's tensors (not its head), the data and the eval transform;
a second probe on the same backbone reads the features back and trains the same head."""

from __future__ import annotations

import logging

import pytest
import torch

from fieldtune.run import run
from fieldtune.trainers.feature_cache import backbone_digest, cache_dir, cached_features, feature_key
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
