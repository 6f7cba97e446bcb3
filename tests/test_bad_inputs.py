"""Bad user inputs, table-driven: each one is a one-line `fieldtune: error:` with exit code 2, names what is at
fault and what to do, shows no traceback, creates no run directory and leaves an existing one byte-identical.

A second table holds the inputs the issue lists as *not* failures (warned, truncated, skipped, converted).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from fieldtune.cli import main
from fieldtune.datasets_builders.logistics_demand import generate_logistics_demand
from tests import hub_fixtures
from tests.helpers import write_demand_csv

# pytest finds fixtures by name in the module; assigned rather than imported (ruff F811).
hub_env, hub_server = hub_fixtures.hub_env, hub_fixtures.hub_server

REPO = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- tiny vision models


@pytest.fixture(scope="module")
def tiny_vit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random 1-layer ViT for 32x32 images, with its image processor, saved like a Hub checkpoint."""
    import torch
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    folder = tmp_path_factory.mktemp("tiny-vit")
    torch.manual_seed(0)
    config = ViTConfig(
        hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16, image_size=32,
        patch_size=8, num_labels=2,
    )  # fmt: skip
    ViTForImageClassification(config).save_pretrained(folder)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
    return folder


# --------------------------------------------------------------------------- case context and data makers


@dataclass
class Ctx:
    """What a case's `setup` gets: a scratch folder, the tiny models, and where a run would go."""

    tmp: Path
    bert: Path
    vit: Path
    request: pytest.FixtureRequest
    monkeypatch: pytest.MonkeyPatch

    @property
    def run_dir(self) -> Path:
        return self.tmp / "run"


def _recipe(
    ctx: Ctx, task: str = "text-classification", model: Path | None = None, data: dict | None = None,
    name: str = "recipe.yaml",
) -> Path:  # fmt: skip
    """A recipe on the tiny BERT and generated orders by default, one training step."""
    tree = {
        "task": task,
        "model": {"name_or_path": str(model or ctx.bert)},
        "data": data if data is not None else _orders(ctx),
        "training": {"max_steps": 1, "per_device_train_batch_size": 8},
    }
    path = ctx.tmp / name
    path.write_text(yaml.safe_dump(tree, sort_keys=False), encoding="utf-8")
    return path


def _orders(ctx: Ctx, csv: Path | None = None, n: int = 60) -> dict:
    csv = csv or write_demand_csv(ctx.tmp / "orders.csv", n=n)
    return {"path": str(csv), "text_columns": ["note"], "label_column": "demand_level"}


def _train(ctx: Ctx, recipe: Path | None = None, *extra: str) -> list[str]:
    return ["train", str(recipe or _recipe(ctx)), "--output-dir", str(ctx.run_dir), *extra]


def _text_with(ctx: Ctx, *overrides: str) -> list[str]:
    """`fieldtune train` of the default recipe with these overrides."""
    return _train(ctx, None, *overrides)


def _orders_frame(n: int = 90) -> pd.DataFrame:
    return generate_logistics_demand(n, 3)


def _split_files(ctx: Ctx, train: pd.DataFrame, validation: pd.DataFrame, test: pd.DataFrame) -> dict:
    folder = ctx.tmp / "splits"
    folder.mkdir()
    for name, df in (("train", train), ("validation", validation), ("test", test)):
        df.to_csv(folder / f"{name}.csv", index=False)
    return {"path": str(folder), "text_columns": ["note"], "label_column": "demand_level"}


def _regression(ctx: Ctx, bad: str) -> list[str]:
    df = _orders_frame(60).astype({"demand_quantity": object})
    df.loc[7, "demand_quantity"] = bad
    df.to_csv(ctx.tmp / "quantities.csv", index=False)
    data = {
        "path": str(ctx.tmp / "quantities.csv"),
        "text_columns": ["note"],
        "label_column": "demand_quantity",
    }
    return _train(ctx, _recipe(ctx, task="text-regression", data=data))


def _png(path: Path, colour: tuple[int, int, int] = (200, 30, 30)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (12, 12), colour).save(path)
    return path


def _image_classes(root: Path, counts: dict[str, int]) -> Path:
    for ci, (name, n) in enumerate(counts.items()):
        for i in range(n):
            _png(root / name / f"{name}_{i}.png", colour=(60 * ci, 20 * i, 90))
    return root


def _images(ctx: Ctx, root: Path, **data: object) -> list[str]:
    recipe = _recipe(
        ctx,
        task="image-classification",
        model=ctx.vit,
        data={"builder": "image_folder", "path": str(root), **data},
    )
    return _train(ctx, recipe)


def _chmod_unreadable(path: Path) -> None:
    path.chmod(0)
    if os.access(path, os.R_OK):  # root reads everything: the case cannot happen here
        path.chmod(0o644)
        pytest.skip("running as root: a chmod 000 file stays readable")


def _fake_run(folder: Path, finished: bool = True) -> Path:
    """A run directory shaped like `fieldtune train` writes it (contents need not be a loadable model)."""
    (folder / "model").mkdir(parents=True)
    (folder / "model" / "config.json").write_text(json.dumps({"model_type": "bert", "num_labels": 3}))
    (folder / "model" / "model.safetensors").write_bytes(os.urandom(256))
    (folder / "config.yaml").write_text("task: text-classification\nmodel: {name_or_path: x}\n")
    (folder / "README.md").write_text("# tiny run\n")
    (folder / "checkpoints" / "checkpoint-1").mkdir(parents=True)
    (folder / "checkpoints" / "checkpoint-1" / "trainer_state.json").write_text("{}")
    if finished:
        (folder / "eval_results.json").write_text(json.dumps({"test_accuracy": 0.5}))
    else:
        (folder / ".incomplete").touch()
    return folder


def _plain_folder(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "thesis.docx").write_bytes(b"precious, not a run")
    return folder


def _no_token(ctx: Ctx) -> None:
    ctx.request.getfixturevalue("hub_env")  # local Hub endpoint, token paths inside tmp
    ctx.monkeypatch.delenv("HF_TOKEN", raising=False)
    import huggingface_hub

    assert huggingface_hub.get_token() is None


# --------------------------------------------------------------------------- setups (one per case)


def s_missing_data_file(ctx: Ctx) -> list[str]:
    data = {
        "path": str(ctx.tmp / "missing_orders.csv"),
        "text_columns": ["note"],
        "label_column": "demand_level",
    }
    return _train(ctx, _recipe(ctx, data=data))


def s_empty_data_file(ctx: Ctx) -> list[str]:
    (ctx.tmp / "empty_orders.csv").write_text("")
    return _train(ctx, _recipe(ctx, data=_orders(ctx, ctx.tmp / "empty_orders.csv")))


def s_header_only_data_file(ctx: Ctx) -> list[str]:
    (ctx.tmp / "header_only.csv").write_text("note,demand_level\n")
    return _train(ctx, _recipe(ctx, data=_orders(ctx, ctx.tmp / "header_only.csv")))


def s_unreadable_data_file(ctx: Ctx) -> list[str]:
    csv = write_demand_csv(ctx.tmp / "locked_orders.csv", n=40)
    _chmod_unreadable(csv)
    return _train(ctx, _recipe(ctx, data=_orders(ctx, csv)))


def s_wrong_delimiter(ctx: Ctx) -> list[str]:
    _orders_frame(60).to_csv(ctx.tmp / "semicolons.csv", sep=";", index=False)
    data = {**_orders(ctx, ctx.tmp / "semicolons.csv"), "delimiter": "|"}
    return _train(ctx, _recipe(ctx, data=data))


def s_missing_text_column(ctx: Ctx) -> list[str]:
    return _text_with(ctx, "--data.text_columns=shipment_text")


def s_missing_label_column(ctx: Ctx) -> list[str]:
    return _text_with(ctx, "--data.label_column=priority_level")


def s_missing_label_values(ctx: Ctx) -> list[str]:
    df = _orders_frame(60)
    df.loc[5, "demand_level"] = ""
    df.to_csv(ctx.tmp / "unlabelled.csv", index=False)
    return _train(ctx, _recipe(ctx, data=_orders(ctx, ctx.tmp / "unlabelled.csv")))


def s_non_utf8_text(ctx: Ctx) -> list[str]:
    text = _orders_frame(40).to_csv(index=False).replace("bottled water", "Mineralwasser für Café")
    (ctx.tmp / "latin1.csv").write_bytes(text.encode("latin-1"))
    return _train(ctx, _recipe(ctx, data=_orders(ctx, ctx.tmp / "latin1.csv")))


def s_one_class_only(ctx: Ctx) -> list[str]:
    df = _orders_frame(60)
    df["demand_level"] = "medium"
    df.to_csv(ctx.tmp / "one_class.csv", index=False)
    return _train(ctx, _recipe(ctx, data=_orders(ctx, ctx.tmp / "one_class.csv")))


def s_class_in_validation_not_in_train(ctx: Ctx) -> list[str]:
    df = _orders_frame(90)
    seen = df[df.demand_level != "high"]
    return _train(ctx, _recipe(ctx, data=_split_files(ctx, seen, df, seen)))


def s_class_in_test_not_in_train(ctx: Ctx) -> list[str]:
    df = _orders_frame(90)
    seen = df[df.demand_level != "low"]
    return _train(ctx, _recipe(ctx, data=_split_files(ctx, seen, seen, df)))


def s_split_folder_without_train(ctx: Ctx) -> list[str]:
    folder = ctx.tmp / "only_test"
    folder.mkdir()
    _orders_frame(40).to_csv(folder / "test.csv", index=False)
    data = {"path": str(folder), "text_columns": ["note"], "label_column": "demand_level"}
    return _train(ctx, _recipe(ctx, data=data))


def s_regression_nan(ctx: Ctx) -> list[str]:
    return _regression(ctx, "nan")


def s_regression_inf(ctx: Ctx) -> list[str]:
    return _regression(ctx, "inf")


def s_regression_non_numeric(ctx: Ctx) -> list[str]:
    return _regression(ctx, "lots")


def s_regression_empty(ctx: Ctx) -> list[str]:
    return _regression(ctx, "")


def s_image_metadata_missing_column(ctx: Ctx) -> list[str]:
    root = ctx.tmp / "photos"
    rows = [f"imgs/{i}.png,{'rust' if i % 2 else 'clean'}" for i in range(8)]
    for i in range(8):
        _png(root / "imgs" / f"{i}.png", colour=(30 * i, 0, 0))
    (root / "metadata.csv").write_text("picture,label\n" + "\n".join(rows) + "\n")
    return _images(ctx, root)


def s_image_zero_byte(ctx: Ctx) -> list[str]:
    root = _image_classes(ctx.tmp / "photos", {"crate": 4, "sack": 4})
    (root / "sack" / "blank_scan.png").write_bytes(b"")
    return _images(ctx, root)


def s_image_truncated_jpeg(ctx: Ctx) -> list[str]:
    root = _image_classes(ctx.tmp / "photos", {"crate": 4, "sack": 4})
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(root / "crate" / "cut_off.jpg", quality=95)
    whole = (root / "crate" / "cut_off.jpg").read_bytes()
    (root / "crate" / "cut_off.jpg").write_bytes(whole[: len(whole) // 2])
    return _images(ctx, root)


def s_image_one_class_folder(ctx: Ctx) -> list[str]:
    return _images(ctx, _image_classes(ctx.tmp / "photos", {"pallet": 6}))


def s_image_folder_without_images(ctx: Ctx) -> list[str]:
    root = ctx.tmp / "photos"
    (root / "crate").mkdir(parents=True)
    (root / "crate" / "notes.txt").write_text("to photograph")
    return _images(ctx, root)


def s_config_missing(ctx: Ctx) -> list[str]:
    return ["train", str(ctx.tmp / "no_such_recipe.yaml")]


def s_config_not_yaml(ctx: Ctx) -> list[str]:
    (ctx.tmp / "broken.yaml").write_text("task: text-classification\nmodel: {name_or_path: [x\n  data: :\n")
    return _train(ctx, ctx.tmp / "broken.yaml")


def s_config_not_a_mapping(ctx: Ctx) -> list[str]:
    (ctx.tmp / "listy.yaml").write_text("- task: text-classification\n- model: bert\n")
    return _train(ctx, ctx.tmp / "listy.yaml")


def s_config_unreadable(ctx: Ctx) -> list[str]:
    recipe = _recipe(ctx, name="locked.yaml")
    _chmod_unreadable(recipe)
    return _train(ctx, recipe)


def s_config_bad_scalar_tag(ctx: Ctx) -> list[str]:
    (ctx.tmp / "tagged.yaml").write_text(f"model: {{name_or_path: {ctx.bert}, max_length: !!int twelve}}\n")
    return _train(ctx, ctx.tmp / "tagged.yaml")


def s_unknown_config_key(ctx: Ctx) -> list[str]:
    return _text_with(ctx, "--training.learnin_rate=0.1")


def s_unknown_section(ctx: Ctx) -> list[str]:
    return _text_with(ctx, "--modle.max_length=64")


def s_wrong_type(ctx: Ctx) -> list[str]:
    return _text_with(ctx, "--training.num_train_epochs=three")


def s_wrong_choice(ctx: Ctx) -> list[str]:
    return _text_with(ctx, "--method.name=lorra")


def s_negative_learning_rate(ctx: Ctx) -> list[str]:
    return _text_with(ctx, "--training.learning_rate=-0.001")


def s_zero_learning_rate(ctx: Ctx) -> list[str]:
    return _text_with(ctx, "--training.learning_rate=0")


def s_zero_epochs(ctx: Ctx) -> list[str]:
    return _text_with(ctx, "--training.num_train_epochs=0")


def s_test_size_out_of_range(ctx: Ctx) -> list[str]:
    return _text_with(ctx, "--data.test_size=1.5")


def s_unknown_builder(ctx: Ctx) -> list[str]:
    return _text_with(ctx, "--data.builder=text_tabel")


def s_token_in_config(ctx: Ctx) -> list[str]:
    return _text_with(ctx, "--hub.token=hf_abcdefgh")


def s_override_without_value(ctx: Ctx) -> list[str]:
    return _text_with(ctx, "--training.learning_rate")


def s_override_without_dashes(ctx: Ctx) -> list[str]:
    return _text_with(ctx, "training.learning_rate=0.1")


def s_override_bad_yaml_tag(ctx: Ctx) -> list[str]:
    return _text_with(ctx, "--model.max_length=!!int twelve")


def s_early_stopping_without_validation(ctx: Ctx) -> list[str]:
    return _text_with(ctx, "--training.early_stopping_patience=2", "--data.validation_size=0")


def s_bad_training_argument(ctx: Ctx) -> list[str]:
    return _text_with(ctx, "--training.lr_scheduler_type=sideways")


def s_class_weights_wrong_length(ctx: Ctx) -> list[str]:
    return _text_with(ctx, "--training.class_weights=[1.0, 2.0]")


def s_class_weights_unknown_name(ctx: Ctx) -> list[str]:
    return _text_with(ctx, "--training.class_weights=balanced_log")


def s_min_steps_zero(ctx: Ctx) -> list[str]:
    return _text_with(ctx, "--training.min_steps=0")


def s_model_path_missing(ctx: Ctx) -> list[str]:
    return _text_with(ctx, f"--model.name_or_path={ctx.tmp / 'no_such_model'}")


def s_model_folder_relative_missing(ctx: Ctx) -> list[str]:
    """`models/vit-x` beside a `models/` folder is a path, never a Hub id to fetch (issue 33, item 3)."""
    (ctx.tmp / "models").mkdir()
    return _text_with(ctx, "--model.name_or_path=models/no-such-bert")


def s_model_folder_without_config(ctx: Ctx) -> list[str]:
    (ctx.tmp / "empty_model").mkdir()
    return _text_with(ctx, f"--model.name_or_path={ctx.tmp / 'empty_model'}")


def s_hub_model_offline(ctx: Ctx) -> list[str]:
    return _text_with(ctx, "--model.name_or_path=field-org/never-downloaded-bert")


def s_hub_unreachable(ctx: Ctx) -> list[str]:
    """The README's first command on a machine without network, `HF_HUB_OFFLINE` unset: it printed 20 retry
    lines (~30 s) before its error (issue 33)."""
    from tests.hub_fixtures import use_hub_endpoint
    from tests.test_offline import closed_port_endpoint

    use_hub_endpoint(ctx.monkeypatch, closed_port_endpoint(), ctx.tmp / "hf_home", token=None)
    return _text_with(ctx, "--model.name_or_path=field-org/never-downloaded-bert")


def s_leaderboard_hub_unreachable(ctx: Ctx) -> list[str]:
    """`leaderboard --hub` without network, `HF_HUB_OFFLINE` unset: retry lines, then a hint to unset a
    variable nobody had set (issue 33)."""
    from tests.hub_fixtures import use_hub_endpoint
    from tests.test_offline import closed_port_endpoint

    use_hub_endpoint(ctx.monkeypatch, closed_port_endpoint(), ctx.tmp / "hf_home", token=None)
    return ["leaderboard", "--hub", "field-org/never-pushed"]


def s_vit_for_text(ctx: Ctx) -> list[str]:
    return _text_with(ctx, f"--model.name_or_path={ctx.vit}")


def s_bert_for_image(ctx: Ctx) -> list[str]:
    root = _image_classes(ctx.tmp / "photos", {"crate": 4, "sack": 4})
    return _train(
        ctx, _recipe(ctx, task="image-classification", data={"builder": "image_folder", "path": str(root)})
    )


def s_lora_target_missing(ctx: Ctx) -> list[str]:
    return _text_with(ctx, "--method.name=lora", "--method.target_modules=[q_proj]")


def s_freeze_embeddings_on_images(ctx: Ctx) -> list[str]:
    root = _image_classes(ctx.tmp / "photos", {"crate": 4, "sack": 4})
    return _images(ctx, root) + ["--method.freeze_embeddings=true"]


def s_dropout_out_of_range(ctx: Ctx) -> list[str]:
    return _text_with(ctx, "--model.dropout=1.5")


def s_unknown_attention_kernel(ctx: Ctx) -> list[str]:
    return _text_with(ctx, "--model.attn_implementation=flash")


def s_output_dir_exists(ctx: Ctx) -> list[str]:
    _fake_run(ctx.run_dir)
    return _train(ctx)


def s_overwrite_with_bad_data(ctx: Ctx) -> list[str]:
    _fake_run(ctx.run_dir)
    return _text_with(ctx, "--overwrite", "--data.label_column=priority_level")


def s_overwrite_non_run_folder(ctx: Ctx) -> list[str]:
    _plain_folder(ctx.run_dir)
    return _text_with(ctx, "--overwrite")


def s_resume_missing_dir(ctx: Ctx) -> list[str]:
    return _text_with(ctx, "--resume")


def s_corrupt_model_weights(ctx: Ctx) -> list[str]:
    _fake_run(ctx.run_dir)  # its model.safetensors is random bytes
    return ["evaluate", str(ctx.run_dir), "--data", str(write_demand_csv(ctx.tmp / "orders.csv", n=30))]


def s_push_without_token(ctx: Ctx) -> list[str]:
    _no_token(ctx)
    _fake_run(ctx.run_dir)
    return ["push", str(ctx.run_dir), "--repo-id", "field-org/demand-bert"]


def s_train_push_without_token(ctx: Ctx) -> list[str]:
    _no_token(ctx)
    return _text_with(ctx, "--hub.push=true", "--hub.repo_id=field-org/demand-bert")


def s_push_invalid_repo_id(ctx: Ctx) -> list[str]:
    _fake_run(ctx.run_dir)
    return ["push", str(ctx.run_dir), "--repo-id", "demand bert"]


def s_push_unfinished_run(ctx: Ctx) -> list[str]:
    _fake_run(ctx.run_dir, finished=False)
    return ["push", str(ctx.run_dir), "--repo-id", "field-org/demand-bert"]


def s_config_invalid_repo_id(ctx: Ctx) -> list[str]:
    return _text_with(ctx, "--hub.repo_id=field-org/demand/bert")


def _export_onnx(ctx: Ctx, *extra: str) -> list[str]:
    """`fieldtune export --format onnx` into a folder inside the run: a leftover would change its snapshot."""
    return ["export", str(ctx.run_dir), "--format", "onnx", "--out", str(ctx.run_dir / "onnx"), *extra]


def _trained_run(ctx: Ctx) -> None:
    assert main(_train(ctx)) == 0


def s_export_unfinished_run(ctx: Ctx) -> list[str]:
    _fake_run(ctx.run_dir, finished=False)
    return _export_onnx(ctx)


def s_export_unknown_format(ctx: Ctx) -> list[str]:
    _fake_run(ctx.run_dir)
    return ["export", str(ctx.run_dir), "--format", "tflite", "--out", str(ctx.run_dir / "onnx")]


def s_export_out_not_empty(ctx: Ctx) -> list[str]:
    _fake_run(ctx.run_dir)
    _plain_folder(ctx.run_dir / "onnx")
    return _export_onnx(ctx)


def s_export_bad_opset(ctx: Ctx) -> list[str]:
    _fake_run(ctx.run_dir)
    return _export_onnx(ctx, "--opset", "99")


def s_export_unsupported_architecture(ctx: Ctx) -> list[str]:
    import torch

    _trained_run(ctx)

    def unsupported(*args: object, **kwargs: object) -> None:  # what the exporter raises on an op it lacks
        raise torch.onnx.errors.OnnxExporterError(
            "Unsupported FX nodes: {'call_function': ['aten.fancy.default']}"
        )

    ctx.monkeypatch.setattr(torch.onnx, "export", unsupported)
    return _export_onnx(ctx)


def s_export_int8_fails_check(ctx: Ctx) -> list[str]:
    import onnxruntime.quantization

    _trained_run(ctx)

    def broken(model_input: str, model_output: str, **kwargs: object) -> None:  # a quantiser gone wrong
        Path(model_output).write_bytes(b"not an onnx graph")

    ctx.monkeypatch.setattr(onnxruntime.quantization, "quantize_dynamic", broken)
    return _export_onnx(ctx, "--quantize", "int8")


def _export(ctx: Ctx, *flags: str) -> list[str]:
    return ["export", str(ctx.run_dir), *flags, "--out", str(ctx.run_dir / "exported")]


def s_export_merge_with_quantize(ctx: Ctx) -> list[str]:
    assert main(_train(ctx, None, "--method.name=lora")) == 0  # a merge that would succeed
    return _export(ctx, "--merge", "--quantize", "int8")


def s_export_merge_with_opset(ctx: Ctx) -> list[str]:
    _fake_run(ctx.run_dir)
    return _export(ctx, "--merge", "--opset", "17")


def s_export_opset_alone(ctx: Ctx) -> list[str]:
    _fake_run(ctx.run_dir)
    return _export(ctx, "--opset", "17")


def s_export_onnx_with_merge(ctx: Ctx) -> list[str]:
    _fake_run(ctx.run_dir)
    return _export(ctx, "--format", "onnx", "--merge")


# --------------------------------------------------------------------------- the table


@dataclass
class Case:
    id: str
    setup: Callable[[Ctx], list[str]]
    names: tuple[str, ...]  # every one must appear in the message: what is at fault, and the fix
    existing: bool = False  # the case targets an existing run directory: it must stay byte-identical
    subprocess: bool = False  # also run `python -m fieldtune` for real
    marks: tuple = field(default=())


CASES = [
    # data files
    Case("missing-data-file", s_missing_data_file, ("missing_orders.csv", "does not exist", "data.path"), subprocess=True),
    Case("empty-data-file", s_empty_data_file, ("empty_orders.csv", "is empty", "header row")),
    Case("header-only-data-file", s_header_only_data_file, ("header_only.csv", "no rows", "add examples")),
    Case("unreadable-data-file", s_unreadable_data_file, ("locked_orders.csv", "permissions")),
    Case("wrong-delimiter", s_wrong_delimiter, ("semicolons.csv", "note", "data.delimiter")),
    Case("missing-text-column", s_missing_text_column, ("orders.csv", "'shipment_text'", "set `data.text_columns`")),
    Case("missing-label-column", s_missing_label_column, ("orders.csv", "'priority_level'", "set `data.label_column`")),
    Case("missing-label-values", s_missing_label_values, ("unlabelled.csv", "'demand_level'", "row 6", "label or drop")),
    Case("non-utf8-text", s_non_utf8_text, ("latin1.csv", "UTF-8", "re-save")),
    Case("one-class-only", s_one_class_only, ("one_class.csv", "single class", "medium", "at least two")),
    Case("class-in-validation-not-in-train", s_class_in_validation_not_in_train, ("high", "validation", "never in train", "add training examples")),
    Case("class-in-test-not-in-train", s_class_in_test_not_in_train, ("low", "test split", "never in train", "add training examples")),
    Case("split-folder-without-train", s_split_folder_without_train, ("only_test", "train.csv", "add one")),
    Case("regression-nan", s_regression_nan, ("quantities.csv", "'demand_quantity'", "'nan'", "finite")),
    Case("regression-inf", s_regression_inf, ("quantities.csv", "'demand_quantity'", "'inf'", "finite")),
    Case("regression-non-numeric", s_regression_non_numeric, ("quantities.csv", "'demand_quantity'", "'lots'", "fix or drop")),
    Case("regression-empty-target", s_regression_empty, ("quantities.csv", "'demand_quantity'", "row 8")),
    # image folders
    Case("image-metadata-missing-column", s_image_metadata_missing_column, ("metadata.csv", "file_name", "data.image_column")),
    Case("image-zero-byte", s_image_zero_byte, ("sack/blank_scan.png", "empty file", "remove or fix")),
    Case("image-truncated-jpeg", s_image_truncated_jpeg, ("crate/cut_off.jpg", "truncated", "remove or fix")),
    Case("image-one-class-folder", s_image_one_class_folder, ("photos", "single class (pallet)", "at least two")),
    Case("image-folder-without-images", s_image_folder_without_images, ("photos", "no images found", "sub-folder per class")),
    # config file and overrides
    Case("config-missing", s_config_missing, ("no_such_recipe.yaml", "does not exist", "YAML recipe")),
    Case("config-not-yaml", s_config_not_yaml, ("broken.yaml", "not valid YAML", "indentation"), subprocess=True),
    Case("config-not-a-mapping", s_config_not_a_mapping, ("listy.yaml", "mapping", "task")),
    Case("config-unreadable", s_config_unreadable, ("locked.yaml", "permissions")),
    Case("config-bad-scalar-tag", s_config_bad_scalar_tag, ("tagged.yaml", "not valid YAML", "'twelve'")),
    Case("unknown-config-key", s_unknown_config_key, ("training.learnin_rate", "did you mean `learning_rate`")),
    Case("unknown-section", s_unknown_section, ("modle", "did you mean `model`")),
    Case("wrong-type", s_wrong_type, ("training.num_train_epochs", "'three'", "number")),
    Case("wrong-choice", s_wrong_choice, ("method.name", "'lorra'", "lora")),
    Case("negative-learning-rate", s_negative_learning_rate, ("training.learning_rate", "-0.001", "must be > 0")),
    Case("zero-learning-rate", s_zero_learning_rate, ("training.learning_rate", "must be > 0")),
    Case("zero-epochs", s_zero_epochs, ("training.num_train_epochs", "must be > 0")),
    Case("test-size-out-of-range", s_test_size_out_of_range, ("data.test_size", "1.5", "[0, 1)")),
    Case("unknown-builder", s_unknown_builder, ("data.builder", "'text_tabel'", "did you mean `text_table`")),
    Case("token-in-config", s_token_in_config, ("hub.token", "HF_TOKEN")),
    Case("override-without-value", s_override_without_value, ("--training.learning_rate", "--training.learning_rate=VALUE"), subprocess=True),
    Case("override-without-dashes", s_override_without_dashes, ("training.learning_rate=0.1", "--section.key=value")),
    Case("override-bad-yaml-tag", s_override_bad_yaml_tag, ("model.max_length", "'!!int twelve'", "number")),
    Case("early-stopping-without-validation", s_early_stopping_without_validation, ("training.early_stopping_patience", "data.validation_size")),
    Case("bad-training-argument", s_bad_training_argument, ("training", "sideways")),
    Case(
        "class-weights-wrong-length", s_class_weights_wrong_length, ("training.class_weights", "2 weights for 3 classes"),
    ),
    Case("class-weights-unknown-name", s_class_weights_unknown_name, ("training.class_weights", "'balanced_log'", "balanced_sqrt")),
    Case("min-steps-zero", s_min_steps_zero, ("training.min_steps", "must be > 0")),
    # models
    Case("model-path-missing", s_model_path_missing, ("no_such_model", "does not exist", "Hub id")),
    Case("model-folder-relative-missing", s_model_folder_relative_missing, ("models/no-such-bert", "folder", "does not exist")),
    Case("model-folder-without-config", s_model_folder_without_config, ("empty_model", "config.json", "saved model folder")),
    Case("hub-model-offline", s_hub_model_offline, ("field-org/never-downloaded-bert", "HF_HUB_OFFLINE")),
    Case("hub-unreachable", s_hub_unreachable, ("field-org/never-downloaded-bert", "could not be fetched", "cannot be reached", "local model folder"), subprocess=True),
    Case("leaderboard-hub-unreachable", s_leaderboard_hub_unreachable, ("field-org/never-pushed", "Cannot reach the Hub", "not cached"), subprocess=True),
    Case("vit-for-text-classification", s_vit_for_text, ("tiny-vit", "vit", "text-classification", "text (BERT-like) backbone"), subprocess=True),
    Case("bert-for-image-classification", s_bert_for_image, ("tiny-bert", "bert", "image-classification", "vision")),
    Case("lora-target-missing", s_lora_target_missing, ("method.target_modules", "'q_proj'", "query")),
    Case("freeze-embeddings-on-images", s_freeze_embeddings_on_images, ("method.freeze_embeddings", "token-embedding table", "remove the key")),
    Case("dropout-out-of-range", s_dropout_out_of_range, ("model.dropout", "1.5", "[0, 1)")),
    Case("unknown-attention-kernel", s_unknown_attention_kernel, ("model.attn_implementation", "'flash'", "eager")),
    # run directories
    Case("output-dir-exists", s_output_dir_exists, ("run", "already exists", "--overwrite", "--resume"), existing=True, subprocess=True),
    Case("overwrite-with-bad-data", s_overwrite_with_bad_data, ("'priority_level'", "data.label_column"), existing=True),
    Case("overwrite-non-run-folder", s_overwrite_non_run_folder, ("not a fieldtune run directory", "refusing"), existing=True),
    Case(
        "corrupt-model-weights", s_corrupt_model_weights, ("run/model",), existing=True,
    ),
    Case("resume-missing-dir", s_resume_missing_dir, ("--resume", "does not exist", "without --resume")),
    # hub
    Case("push-without-token", s_push_without_token, ("field-org/demand-bert", "token", "HF_TOKEN", "hf auth login"), existing=True),
    Case("train-push-without-token", s_train_push_without_token, ("hub.push", "token", "HF_TOKEN")),
    Case("push-invalid-repo-id", s_push_invalid_repo_id, ("--repo-id", "'demand bert'", "namespace/name"), existing=True),
    Case("push-unfinished-run", s_push_unfinished_run, ("unfinished run", "--resume"), existing=True),
    Case("config-invalid-repo-id", s_config_invalid_repo_id, ("hub.repo_id", "field-org/demand/bert", "namespace/name")),
    # ONNX export
    Case("export-unfinished-run", s_export_unfinished_run, ("unfinished run", "--resume"), existing=True),
    Case("export-unknown-format", s_export_unknown_format, ("--format tflite", "onnx"), existing=True, subprocess=True),
    Case("export-out-not-empty", s_export_out_not_empty, ("run/onnx", "not empty", "new folder"), existing=True),
    Case("export-bad-opset", s_export_bad_opset, ("--opset 99", "18-", "leave --opset out"), existing=True),
    Case("export-unsupported-architecture", s_export_unsupported_architecture, ("cannot export", "BertForSequenceClassification", "not supported", "fieldtune predict RUN"), existing=True),
    Case("export-merge-with-quantize", s_export_merge_with_quantize, ("--quantize int8", "ONNX export only", "--format onnx"), existing=True),
    Case("export-merge-with-opset", s_export_merge_with_opset, ("--opset 17", "ONNX export only", "--format onnx"), existing=True),
    Case("export-opset-alone", s_export_opset_alone, ("--opset 17", "--format onnx"), existing=True),
    Case("export-onnx-with-merge", s_export_onnx_with_merge, ("--merge does nothing with --format onnx", "drop --merge"), existing=True),
    Case("export-int8-fails-check", s_export_int8_fails_check, ("int8 model fails its check", "without --quantize"), existing=True),
]  # fmt: skip


def _snapshot(folder: Path) -> dict[str, str]:
    """Every file and folder under `folder` -> sha256 of its bytes (folders: 'dir'); a file: itself."""
    if not folder.exists():
        return {}
    if folder.is_file():  # a user's file where the run directory would go
        return {"": hashlib.sha256(folder.read_bytes()).hexdigest()}
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        out[rel] = "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _check_one_line(err: str, names: tuple[str, ...]) -> str:
    assert "Traceback" not in err, err
    lines = err.splitlines()
    assert len(lines) == 1 and err.endswith("\n"), f"expected one line on stderr, got:\n{err}"
    line = lines[0]
    assert line.startswith("fieldtune: error: "), line
    for name in names:
        assert name in line, f"{name!r} missing from: {line}"
    return line


def run_case(case: Case, ctx: Ctx, capsys: pytest.CaptureFixture) -> None:
    """Run one table row: exit 2, one line naming `case.names`, the run directory untouched (in process,
    and with `case.subprocess` also as `python -m fieldtune`). The other bad-input modules call it too."""
    ctx.monkeypatch.chdir(ctx.tmp)  # a recipe's default output_dir (runs/) would land here
    argv = case.setup(ctx)
    before = _snapshot(ctx.run_dir)
    assert bool(before) == case.existing
    capsys.readouterr()

    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    _check_one_line(err, case.names)
    assert _snapshot(ctx.run_dir) == before  # nothing created, nothing touched
    assert not (ctx.tmp / "runs").exists()

    if case.subprocess:
        proc = subprocess.run(
            [sys.executable, "-m", "fieldtune", *argv],
            capture_output=True,
            text=True,
            timeout=180,
            cwd=ctx.tmp,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        assert proc.returncode == 2, proc.stderr
        _check_one_line(proc.stderr, case.names)
        assert _snapshot(ctx.run_dir) == before


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=c.marks) for c in CASES])
def test_bad_input_is_one_line_exit_2(
    case: Case, tmp_path, tiny_bert, tiny_vit, request, monkeypatch, capsys
):
    run_case(case, Ctx(tmp_path, tiny_bert, tiny_vit, request, monkeypatch), capsys)


# --------------------------------------------------------------------------- not failures


def t_class_missing_from_validation(ctx: Ctx, caplog: pytest.LogCaptureFixture) -> None:
    df = _orders_frame(120)
    no_high = df[df.demand_level != "high"]
    recipe = _recipe(ctx, data=_split_files(ctx, df.iloc[:80], no_high.iloc[:20], df.iloc[80:]))
    assert main(_train(ctx, recipe)) == 0
    assert "classes absent from the validation split: high" in caplog.text
    assert (ctx.run_dir / "eval_results.json").is_file() and not (ctx.run_dir / ".incomplete").exists()


def t_long_texts_truncated(ctx: Ctx, caplog: pytest.LogCaptureFixture) -> None:
    df = _orders_frame(60)
    long = df.index % 3 == 0
    df.loc[long, "note"] = df.loc[long, "note"] + " two pallets" * 60  # far past 64 tokens, words it knows
    df.to_csv(ctx.tmp / "long.csv", index=False)
    assert main(_train(ctx, _recipe(ctx, data=_orders(ctx, ctx.tmp / "long.csv")))) == 0
    counted = [r.getMessage() for r in caplog.records if "truncated" in r.getMessage()]
    assert counted and all("longer than 64 tokens" in m for m in counted), caplog.text
    total = sum(int(m.split(": ", 1)[1].split(" of ")[0]) for m in counted)
    assert total == int(long.sum())  # every long text counted, no short one
    assert (ctx.run_dir / "eval_results.json").is_file()


def _train_images(ctx: Ctx, root: Path, caplog: pytest.LogCaptureFixture) -> object:
    """Train one step on the folder through the CLI, then build the same dataset unsplit to look at it."""
    from fieldtune.config import load_config
    from fieldtune.datasets_builders import build_dataset

    data = {"builder": "image_folder", "path": str(root)}
    recipe = _recipe(ctx, task="image-classification", model=ctx.vit, data=data)
    assert main(_train(ctx, recipe)) == 0, caplog.text
    assert (ctx.run_dir / "eval_results.json").is_file() and not (ctx.run_dir / ".incomplete").exists()
    config = load_config(recipe, ["--data.validation_size=0", "--data.test_size=0"])
    return build_dataset(config.data, config.task)


def t_image_junk_skipped(ctx: Ctx, caplog: pytest.LogCaptureFixture) -> None:
    root = _image_classes(ctx.tmp / "photos", {"granite": 5, "shale": 5})
    (root / ".DS_Store").write_bytes(b"\0junk")
    (root / "granite" / "Thumbs.db").write_bytes(b"\0")
    (root / "granite" / "._granite_0.png").write_bytes(b"\0appledouble")
    (root / "shale" / "field_notes.txt").write_text("notes")
    (root / "shale" / "scan.pdf").write_bytes(b"%PDF-1.4")
    _png(root / "shale" / ".ipynb_checkpoints" / "copy.png")
    _png(root / "__MACOSX" / "granite" / "x.png")
    dd = _train_images(ctx, root, caplog)
    assert len(dd["train"]) == 10 and dd["train"].features["label"].names == ["granite", "shale"]
    assert "skipped 7 entries" in caplog.text
    assert "2 non-image files" in caplog.text and "3 hidden or system files" in caplog.text


def _mode_images(root: Path) -> dict[str, Path]:
    made = {
        "cmyk": root / "a" / "cmyk.jpg",
        "sixteen_bit": root / "a" / "deep.png",
        "rgba": root / "b" / "alpha.png",
        "palette": root / "b" / "pal.png",
    }
    Image.new("CMYK", (8, 8), (0, 255, 255, 0)).save(made["cmyk"])
    Image.fromarray(np.full((8, 8), 65535, np.uint16)).save(made["sixteen_bit"])
    rgba = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
    rgba.putpixel((0, 0), (10, 20, 30, 255))
    rgba.save(made["rgba"])
    pal = Image.new("P", (8, 8), 0)
    pal.putpalette([0, 0, 0, 250, 0, 0] + [0] * 762)
    pal.putpixel((1, 1), 1)
    pal.save(made["palette"], transparency=0)
    return made


def t_image_modes_converted(ctx: Ctx, caplog: pytest.LogCaptureFixture) -> None:
    from datasets import Image as ImageFeature

    root = _image_classes(ctx.tmp / "photos", {"a": 3, "b": 3})
    made = _mode_images(root)
    assert {Image.open(p).mode for p in made.values()} == {"CMYK", "I;16", "RGBA", "P"}
    dd = _train_images(ctx, root, caplog)
    raw = dd["train"].cast_column("image", ImageFeature(decode=False))["image"]
    images = {Path(r["path"]).name: img for r, img in zip(raw, dd["train"]["image"], strict=True)}
    assert len(images) == 10 and all(img.mode == "RGB" for img in images.values())
    assert images["alpha.png"].getpixel((5, 5)) == (255, 255, 255)  # transparent -> white
    assert images["pal.png"].getpixel((1, 1)) == (250, 0, 0)
    assert images["deep.png"].getpixel((3, 3)) == (255, 255, 255)  # 16-bit white stays white
    r, g, b = images["cmyk.jpg"].getpixel((3, 3))
    assert r > 200 and g < 60 and b < 60
    assert "converted 3 image(s)" in caplog.text  # alpha, palette with transparency, 16-bit


def t_nested_folders(ctx: Ctx, caplog: pytest.LogCaptureFixture) -> None:
    from datasets import Image as ImageFeature

    root = _image_classes(ctx.tmp / "photos", {"basalt": 4, "quartz": 4})
    _png(root / "basalt" / "site1" / "core3" / "deep.png")
    _png(root / "quartz" / "site2" / "other.png")
    dd = _train_images(ctx, root, caplog)
    paths = dd["train"].cast_column("image", ImageFeature(decode=False))["image"]
    by_file = {Path(p["path"]).name: label for p, label in zip(paths, dd["train"]["label"], strict=True)}
    assert len(by_file) == 10 and by_file["deep.png"] == 0 and by_file["other.png"] == 1


NOT_FAILURES = {
    "class-missing-from-validation": t_class_missing_from_validation,
    "long-texts-truncated": t_long_texts_truncated,
    "image-junk-skipped": t_image_junk_skipped,
    "image-modes-converted": t_image_modes_converted,
    "nested-class-folders": t_nested_folders,
}


@pytest.mark.parametrize("check", list(NOT_FAILURES.values()), ids=list(NOT_FAILURES))
def test_not_a_failure(check, tmp_path, tiny_bert, tiny_vit, request, monkeypatch, caplog):
    monkeypatch.chdir(tmp_path)
    caplog.set_level(logging.INFO)
    check(Ctx(tmp_path, tiny_bert, tiny_vit, request, monkeypatch), caplog)
