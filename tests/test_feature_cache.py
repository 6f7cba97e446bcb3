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


def test_features_are_computed_once_and_a_damaged_file_is_replaced(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return torch.arange(6.0).view(2, 3)

    class Data:
        _fingerprint = "abc"

        def __len__(self):
            return 2

    key = feature_key("digest", Data(), None, "fp32")
    assert key != feature_key("digest", Data(), None, "bf16")
    for _ in range(2):
        assert torch.equal(cached_features(key, compute, "train"), torch.arange(6.0).view(2, 3))
    assert len(calls) == 1
    (cache_dir() / f"{key}.pt").write_bytes(b"not a tensor file")
    assert torch.equal(cached_features(key, compute, "train"), torch.arange(6.0).view(2, 3))
    assert len(calls) == 2


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
