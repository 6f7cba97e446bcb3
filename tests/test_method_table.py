"""The method table carries a method's behaviour: a new row (here a LoHa adapter, a second cached-feature
probe, a second baseline) is built, checked, carded and dispatched by what the row says, not by its name."""

from __future__ import annotations

import dataclasses

import pytest

from fieldtune.config import MethodConfig, ModelConfig, config_from_dict
from fieldtune.errors import ConfigError
from fieldtune.modeling import methods
from fieldtune.modeling.methods import METHODS, Method
from fieldtune.rundir.card import build_model_card
from fieldtune.tasks.table import get_task
from tests.test_card import CONFIG, RESULTS


def loha_adapter(method, targets, head, peft_task_type):
    from peft import LoHaConfig

    return LoHaConfig(r=method.lora_r, alpha=method.lora_alpha, target_modules=targets, modules_to_save=head)


@pytest.fixture
def new_rows(monkeypatch):
    rows = {
        "loha": Method("loha", "adapter", adapter=loha_adapter, card=" (LoHa r={lora_r})"),
        "probe_fast": Method("probe_fast", "head"),
        "baseline_zero": Method("baseline_zero", "head", fits_baseline=True),
    }
    monkeypatch.setattr(methods, "METHODS", {**METHODS, **rows})
    return rows


def test_an_adapter_method_builds_its_own_peft_config(new_rows, tiny_bert):
    from peft import LoHaConfig, LoraConfig

    from fieldtune.modeling.create import count_params, create_model

    task = get_task("text-classification")
    model_cfg = ModelConfig(name_or_path=str(tiny_bert), max_length=32)
    model, info = create_model(model_cfg, task, ["a", "b"], MethodConfig(name="loha", lora_r=2))
    config = model.peft_config["default"]
    assert isinstance(config, LoHaConfig) and not isinstance(config, LoraConfig)
    assert config.r == 2 and set(config.modules_to_save) == set(info.head_modules)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert any("hada_" in n for n in trainable)  # LoHa's factors, not LoRA's
    assert not any("lora_" in n for n in trainable)
    assert 0 < count_params(model)[0] < count_params(model)[1]
    # the table's own LoRA row still builds LoRA
    lora, _ = create_model(model_cfg, task, ["a", "b"], MethodConfig(name="lora", lora_r=2))
    assert isinstance(lora.peft_config["default"], LoraConfig)


def test_the_card_says_what_the_method_row_says(new_rows):
    def method_line(name):
        card = build_model_card({**RESULTS, "method": name}, CONFIG, ["I", "II"], is_adapter=True)
        return next(line for line in card.text.splitlines() if line.startswith("- Method:"))

    assert method_line("lora") == "- Method: `lora` (LoRA r=8, alpha=16; head trained fully)"
    assert method_line("loha") == "- Method: `loha` (LoHa r=8)"
    assert method_line("full") == "- Method: `full`"
    assert method_line("retired_method") == "- Method: `retired_method`"  # an older run's name: no note


def test_a_head_on_cached_features_refuses_image_mixing(new_rows, tmp_path):
    from fieldtune.config.rules import _check_methods

    config = config_from_dict(
        {
            "task": "image-classification",
            "model": {"name_or_path": str(tmp_path)},
            "data": {"builder": "geology_images"},
            "training": {"mixup_alpha": 0.2},
        }
    )
    spec = get_task("image-classification")
    for name in ("probe", "probe_fast"):
        mixed = dataclasses.replace(config, method=dataclasses.replace(config.method, name=name))
        with pytest.raises(ConfigError, match=f"`method.name: {name}` trains its head on cached"):
            _check_methods(mixed, spec)
    for name in ("full", "probe_unfreeze", "baseline"):  # its backbone trains (later), or not this row
        _check_methods(
            dataclasses.replace(config, method=dataclasses.replace(config.method, name=name)), spec
        )
    uncached = dataclasses.replace(config.method, name="probe_fast", feature_cache=False)
    _check_methods(dataclasses.replace(config, method=uncached), spec)


def test_cross_validation_asks_whether_the_method_fits_a_baseline(new_rows, tiny_bert, tmp_path):
    from fieldtune.cv.runner import run_cv

    config = config_from_dict(
        {
            "task": "text-classification",
            "model": {"name_or_path": str(tiny_bert), "max_length": 32},
            "data": {"builder": "logistics_demand", "num_samples": 40},
            "cv": {"folds": 2},
        }
    )
    for name in ("baseline", "baseline_zero"):
        row = dataclasses.replace(config, method=dataclasses.replace(config.method, name=name))
        with pytest.raises(ConfigError, match=f"`method.name: {name}` with cv.folds is not supported"):
            run_cv(row, output_dir=tmp_path / name)
    assert not any(tmp_path.iterdir())
