"""Config loading: YAML + overrides, unknown keys with the nearest valid key, types, secrets, round trip."""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from fieldtune.config import RunConfig, config_from_dict, load_config, parse_overrides
from fieldtune.errors import ConfigError, FieldtuneError

BASE = {"task": "text-classification", "model": {"name_or_path": "bert-base-uncased"}}


def cfg(**sections):
    return config_from_dict({**BASE, **sections})


def test_defaults_and_sections():
    c = cfg(method={"name": "lora", "lora_r": 4})
    assert c.method.name == "lora" and c.method.lora_r == 4
    assert c.training.precision == "auto"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"method": {"nmae": "lora"}}, "did you mean `name`"),
        ({"trainig": {}}, "did you mean `training`"),
        ({"training": {"learnin_rate": 1e-4}}, "did you mean `learning_rate`"),
        ({"data": {"text_column": "x"}}, "did you mean `text_columns`"),
    ],
)
def test_unknown_key_names_nearest(data, expected):
    with pytest.raises(ConfigError, match=expected):
        cfg(**data)


def test_unknown_key_without_a_near_one_lists_each_valid_key_once():
    """training's keys are fieldtune's own plus TrainingArguments' (some are both): each is named once."""
    with pytest.raises(ConfigError, match="valid keys") as err:
        cfg(training={"zzzz": 1})
    keys = str(err.value).split("valid keys: ")[1].split(", ")
    assert "learning_rate" in keys and len(keys) == len(set(keys))


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"training": {"learning_rate": "fast"}}, "training.learning_rate"),
        ({"training": {"learning_rate": -1e-4}}, "training.learning_rate"),
        ({"training": {"learning_rate": 0}}, "training.learning_rate"),
        ({"training": {"precise_bn": -1}}, "training.precise_bn"),
        ({"training": {"num_train_epochs": 0}}, "training.num_train_epochs"),
        ({"method": {"name": "qlora"}}, "method.name"),
        ({"method": {"lora_r": 2.5}}, "method.lora_r"),
        ({"hub": {"private": "yes"}}, "hub.private"),
        ({"data": {"test_size": 1.5}}, "data.test_size"),
        ({"model": {"name_or_path": "x", "max_length": [1]}}, "model.max_length"),
    ],
)
def test_wrong_value_names_the_key(data, key):
    with pytest.raises(ConfigError) as e:
        cfg(**data)
    assert f"`{key}`" in str(e.value) and "\n" not in str(e.value)


def test_trainingarguments_pass_through_and_its_typos():
    c = cfg(training={"lr_scheduler_type": "cosine", "max_grad_norm": 0.5})
    assert c.training.extra == {"lr_scheduler_type": "cosine", "max_grad_norm": 0.5}
    with pytest.raises(ConfigError, match="lr_scheduler_type"):
        cfg(training={"lr_sheduler_type": "cosine"})


def test_tokens_are_refused_in_configs():
    with pytest.raises(ConfigError, match="HF_TOKEN"):
        cfg(hub={"token": "hf_abc"})


def test_overrides_parse_yaml_values():
    tree = parse_overrides(
        ["--training.learning_rate=1e-4", "--method.name", "lora", "--data.text_columns=[a, b]"]
    )
    assert tree == {
        "training": {"learning_rate": "1e-4"},
        "method": {"name": "lora"},
        "data": {"text_columns": ["a", "b"]},
    }
    c = config_from_dict(BASE, ["--training.learning_rate=1e-4", "--method.name=lora"])
    assert c.training.learning_rate == pytest.approx(1e-4) and c.method.name == "lora"
    with pytest.raises(ConfigError):
        parse_overrides(["--training.learning_rate"])
    with pytest.raises(ConfigError, match="did you mean"):
        config_from_dict(BASE, ["--trainng.seed=1"])


def test_string_field_overrides_are_plain_text():
    """YAML would make `|` an empty block scalar, `yes` a bool and `0123` a number (issue 29): a string
    field's override is the text as typed; `null` still unsets an optional one."""
    c = config_from_dict(
        BASE,
        ["--data.label_delimiter=|", "--data.delimiter", "|", "--name=yes", "--model.revision=0123",
         "--hub.revision=null"],
    )  # fmt: skip
    assert (c.data.label_delimiter, c.data.delimiter, c.name, c.model.revision) == ("|", "|", "yes", "0123")
    assert c.hub.revision is None
    assert parse_overrides(["--training.seed=3"]) == {"training": {"seed": 3}}  # other fields stay YAML
    with pytest.raises(ConfigError, match=r"`data.delimiter`: '' must be one character such as , ; \|"):
        config_from_dict({**BASE, "data": {"delimiter": ""}})  # `delimiter: |` in a file
    assert config_from_dict({**BASE, "data": {"delimiter": "\t"}}).data.delimiter == "\t"


def test_cross_field_rules():
    with pytest.raises(ConfigError, match="image-classification"):
        cfg(method={"name": "probe_unfreeze"})
    with pytest.raises(ConfigError, match="repo_id"):
        cfg(hub={"push": True})
    with pytest.raises(ConfigError, match="hub.repo_id"):
        cfg(hub={"repo_id": "not a repo"})
    with pytest.raises(ConfigError, match="model.name_or_path"):
        config_from_dict({"task": "text-classification"})


def test_round_trip_through_yaml(tmp_path):
    c = cfg(
        method={"name": "lora"},
        training={"lr_scheduler_type": "cosine", "class_weights": "balanced"},
        data={"text_columns": "note"},
    )
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(c.to_dict()))
    again = load_config(path)
    again.name = c.name
    assert dataclasses.asdict(again) == dataclasses.asdict(c)


def test_load_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("task: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    listy = tmp_path / "list.yaml"
    listy.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(listy)


def test_every_field_has_help():
    from fieldtune import config as c

    for cls in (
        c.ModelConfig,
        c.DataConfig,
        c.AugmentConfig,
        c.MethodConfig,
        c.TrainingConfig,
        c.HubConfig,
        c.DistillConfig,
        c.PretrainingConfig,
        RunConfig,
    ):
        for f in dataclasses.fields(cls):
            assert f.metadata.get("help"), f"{cls.__name__}.{f.name} has no help text"


def test_errors_are_fieldtune_errors():
    assert issubclass(ConfigError, FieldtuneError) and issubclass(ConfigError, ValueError)


def test_arguments_fieldtune_owns_are_refused_with_the_alternative():
    for key in ("bf16", "output_dir", "remove_unused_columns", "push_to_hub"):
        with pytest.raises(ConfigError, match="set by fieldtune"):
            cfg(training={key: True})


def test_yaml_no_stays_a_strategy_for_string_training_arguments():
    """YAML 1.1 reads `no` as False; `--training.save_strategy=no` must still mean the strategy "no"."""
    cfg = config_from_dict(
        {"task": "text-classification", "model": {"name_or_path": "m"}, "data": {"path": "d.csv"}},
        ["--training.save_strategy=no", "--training.eval_strategy=no", "--training.disable_tqdm=no"],
    )
    assert cfg.training.extra["save_strategy"] == "no" and cfg.training.extra["eval_strategy"] == "no"
    assert cfg.training.extra["disable_tqdm"] is False  # a real bool field keeps the bool


@pytest.mark.parametrize(
    ("cuda", "cores", "processes_here", "expected"),
    [
        (False, 16, 1, 0),  # CPU: the step uses every core; no worker steals one
        (True, 16, 1, 4),  # GPU: overlap collation with the step, at most 4
        (True, 16, 8, 1),  # 8 GPUs on 16 cores: 2 cores per process, one for the process itself
        (True, 2, 2, 0),
    ],
)
def test_dataloader_workers_fit_the_cores(monkeypatch, cuda, cores, processes_here, expected):
    import os

    import torch

    from fieldtune.trainers.arguments import auto_dataloader_workers

    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(cores)), raising=False)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", str(processes_here))
    assert auto_dataloader_workers(use_cpu=not cuda) == expected


def test_dataloader_workers_can_be_set_and_persist_across_epochs(tmp_path):
    from fieldtune.tasks.table import get_task
    from fieldtune.trainers.arguments import build_training_args

    task = get_task("text-classification")
    default = build_training_args(cfg().training, tmp_path, task, False, "fp32", use_cpu=True)
    assert default.dataloader_num_workers == 0 and not default.dataloader_persistent_workers
    chosen = cfg(training={"dataloader_num_workers": 2}).training
    args = build_training_args(chosen, tmp_path, task, False, "fp32", use_cpu=True)
    assert args.dataloader_num_workers == 2 and args.dataloader_persistent_workers


def test_every_method_the_schema_accepts_has_a_row_in_the_method_table():
    from typing import get_args

    from fieldtune.config.schema import MethodName
    from fieldtune.modeling.methods import METHODS

    assert set(get_args(MethodName)) == set(METHODS)


def test_a_method_for_other_inputs_names_the_tasks_it_fits():
    with pytest.raises(
        ConfigError, match="probe_unfreeze.*only valid for image-classification.*text-classification"
    ):
        cfg(method={"name": "probe_unfreeze"})


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ([], "demo_recipe"),
        (["--training.num_train_epochs=1", "--data.num_samples=50"], "demo_recipe"),  # same data and model
        (["--data.builder=text_table", "--data.path=my data/orders.csv", "--data.text_columns=note"],
         "orders_all-MiniLM-L6-v2_lora"),
        (["--data.path=photos/shapes/"], "shapes_all-MiniLM-L6-v2_lora"),
        (["--model.name_or_path", "bert-base-uncased"], "logistics_demand_bert-base-uncased_lora"),
        (["--method.name=full"], "logistics_demand_all-MiniLM-L6-v2_full"),
        (["--data.path=orders.csv", "--name=mine"], "mine"),
    ],
)  # fmt: skip
def test_run_is_named_after_its_data_model_and_method_when_overridden(tmp_path, overrides, expected):
    """A recipe run on the user's data is not named (or reported) after the recipe's data (issue 33)."""
    recipe = tmp_path / "demo_recipe.yaml"
    recipe.write_text(
        "task: text-classification\nmodel: {name_or_path: sentence-transformers/all-MiniLM-L6-v2}\n"
        "data: {builder: logistics_demand}\nmethod: {name: lora}\n"
    )
    assert load_config(recipe, overrides).name == expected


def test_saved_config_keeps_only_the_keys_of_the_run_modality(tmp_path):
    from fieldtune.config import save_config
    from fieldtune.tasks.table import IMAGE, TEXT

    c = cfg(data={"builder": "image_folder", "path": "photos", "image_size": 112})
    save_config(c, tmp_path / "image.yaml", IMAGE)
    image = yaml.safe_load((tmp_path / "image.yaml").read_text())
    assert image["data"]["image_size"] == 112 and "augment" in image["data"]
    assert "max_length" not in image["model"] and "text_columns" not in image["data"]
    assert not image.get("pretraining")  # the masked-LM phase is text only
    save_config(c, tmp_path / "text.yaml", TEXT)
    text = yaml.safe_load((tmp_path / "text.yaml").read_text())
    assert (
        "augment" not in text["data"] and "image_size" not in text["data"] and "max_length" in text["model"]
    )
    assert text["pretraining"]["epochs"] == 0
