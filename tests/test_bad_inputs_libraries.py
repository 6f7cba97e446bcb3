"""Bad values that a library (Optuna, scikit-learn, codecs, transformers' integrations, MLflow, W&B) would
reject with a traceback, through the CLI (issue 29): one line, exit 2, nothing written. Same table machinery
as `tests/test_bad_inputs.py`."""

from __future__ import annotations

import json
import socket

import pytest
import yaml

from tests import test_bad_inputs as table
from tests import test_bad_inputs_files as files
from tests.test_bad_inputs import Case, Ctx, _recipe

tiny_vit, tiny_classifier = table.tiny_vit, files.tiny_classifier  # module fixtures, found by name


# --------------------------------------------------------------------------- Optuna search spaces


def _search(ctx: Ctx, spec: dict) -> list[str]:
    path = ctx.tmp / "space.yaml"
    path.write_text(yaml.safe_dump({"training.learning_rate": spec}))
    return [
        "sweep",
        str(_recipe(ctx)),
        "--output-dir",
        str(ctx.run_dir),
        "--search",
        str(path),
        "--trials",
        "2",
    ]


def s_search_step_zero(ctx: Ctx) -> list[str]:
    return _search(ctx, {"type": "float", "low": 1e-5, "high": 1e-3, "step": 0})


def s_search_log_with_step(ctx: Ctx) -> list[str]:
    return _search(ctx, {"type": "float", "low": 1e-5, "high": 1e-3, "log": True, "step": 1e-5})


def s_search_log_not_a_bool(ctx: Ctx) -> list[str]:
    return _search(ctx, {"type": "float", "low": 1e-5, "high": 1e-3, "log": "yes"})


def s_search_int_fraction_step(ctx: Ctx) -> list[str]:
    path = ctx.tmp / "space.yaml"
    path.write_text(
        yaml.safe_dump({"training.num_train_epochs": {"type": "int", "low": 1, "high": 4, "step": 0.5}})
    )
    return [
        "sweep",
        str(_recipe(ctx)),
        "--output-dir",
        str(ctx.run_dir),
        "--search",
        str(path),
        "--trials",
        "2",
    ]


def s_sweep_first_trial_fails(ctx: Ctx) -> list[str]:
    """A data mistake found only when the first trial reads the data: no sweep.json / journal is left."""
    recipe = _recipe(ctx, data={**table._orders(ctx), "label_column": "priority_level"})
    return [
        "sweep",
        str(recipe),
        "--output-dir",
        str(ctx.run_dir),
        "--grid",
        "training.learning_rate=1e-4,3e-4",
    ]


# --------------------------------------------------------------------------- scikit-learn (the TF-IDF baseline)


def s_baseline_min_df_too_large(ctx: Ctx) -> list[str]:
    return ["baseline", str(_recipe(ctx)), "--output-dir", str(ctx.run_dir), "--baseline.min_df=1000"]


def s_ensemble_min_df_too_large(ctx: Ctx) -> list[str]:
    """Asked before training: the ensemble's baseline half is fitted only after the transformer."""
    return table._text_with(ctx, "--ensemble.baseline_weight=0.5", "--baseline.min_df=1000")


# --------------------------------------------------------------------------- codecs that are not text encodings


def s_data_encoding_rot13(ctx: Ctx) -> list[str]:
    return table._text_with(ctx, "--data.encoding=rot13")


def s_data_encoding_undefined(ctx: Ctx) -> list[str]:
    return table._text_with(ctx, "--data.encoding=undefined")


def s_predict_encoding_base64(ctx: Ctx) -> list[str]:
    (ctx.tmp / "notes.txt").write_text("cold boxes\n", encoding="utf-8")
    model = files._classifier(ctx)
    return ["predict", str(model), "--input", str(ctx.tmp / "notes.txt"), "--encoding", "base64"]


# --------------------------------------------------------------------------- tracking (transformers' integrations)


def s_report_to_misspelt(ctx: Ctx) -> list[str]:
    return table._text_with(ctx, "--training.report_to=wandbb")


def s_report_to_number_list(ctx: Ctx) -> list[str]:
    return table._text_with(ctx, "--training.report_to=[1]")


def s_report_to_true(ctx: Ctx) -> list[str]:
    return table._text_with(ctx, "--training.report_to=true")


# --------------------------------------------------------------------------- multi-label tables without labels


def _no_tags(ctx: Ctx, cell: object) -> dict:
    path = ctx.tmp / "notes.jsonl"
    path.write_text("".join(json.dumps({"note": f"crate {i}", "tags": cell}) + "\n" for i in range(20)))
    return {"path": str(path), "text_columns": ["note"], "label_column": "tags"}


def s_multilabel_no_labels(ctx: Ctx) -> list[str]:
    return table._train(ctx, _recipe(ctx, task="text-multilabel", data=_no_tags(ctx, [])))


def s_multilabel_baseline_no_labels(ctx: Ctx) -> list[str]:
    recipe = _recipe(ctx, task="text-multilabel", data=_no_tags(ctx, ""))
    return ["baseline", str(recipe), "--output-dir", str(ctx.run_dir)]


def _closed_port() -> int:
    with socket.socket() as s:  # bound, then closed: nothing listens there
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def s_mlflow_server_down(ctx: Ctx) -> list[str]:
    uri = f"http://alice:Hunter2-Secret@127.0.0.1:{_closed_port()}"
    ctx.monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    ctx.monkeypatch.setenv(
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0"
    )  # today's code: a traceback in seconds, not minutes
    ctx.monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "3")
    return table._text_with(ctx, "--training.report_to=mlflow")


def s_wandb_not_logged_in(ctx: Ctx) -> list[str]:
    home = ctx.tmp / "home"
    home.mkdir()
    for name in ("WANDB_API_KEY", "WANDB_IDENTITY_TOKEN_FILE", "NETRC", "WANDB_BASE_URL"):
        ctx.monkeypatch.delenv(name, raising=False)
    ctx.monkeypatch.setenv("HOME", str(home))
    ctx.monkeypatch.setenv("WANDB_CONFIG_DIR", str(home / "wandb-config"))
    ctx.monkeypatch.setenv("WANDB_DIR", str(ctx.tmp / "wandb-runs"))
    ctx.monkeypatch.setenv("WANDB_MODE", "online")
    return table._text_with(ctx, "--training.report_to=[wandb]")


def s_wandb_malformed_key(ctx: Ctx) -> list[str]:
    """The preflight sees a key; `wandb.init` refuses it: caught where the run opens, one line, no run left."""
    argv = s_wandb_not_logged_in(ctx)
    ctx.monkeypatch.setenv("WANDB_API_KEY", "not-a-key")
    return argv


# --------------------------------------------------------------------------- the csv module (data.delimiter)


def s_delimiter_two_characters(ctx: Ctx) -> list[str]:
    return table._text_with(ctx, "--data.delimiter=;;")


def s_delimiter_quote(ctx: Ctx) -> list[str]:
    data = {**table._orders(ctx), "delimiter": '"'}
    return table._train(ctx, _recipe(ctx, data=data))


# --------------------------------------------------------------------------- images (PIL / torch)


def s_image_size_huge(ctx: Ctx) -> list[str]:
    """20000 px: 4.8 GB of float pixels per image, a MemoryError (or the OOM killer) today."""
    root = table._image_classes(ctx.tmp / "photos", {"crate": 6, "sack": 6})
    return table._images(ctx, root, image_size=20000)


def s_crop_scale_above_one(ctx: Ctx) -> list[str]:
    root = table._image_classes(ctx.tmp / "photos", {"crate": 6, "sack": 6})
    return [*table._images(ctx, root), "--data.augment.crop_scale_min=1.5"]


# --------------------------------------------------------------------------- pass-through TrainingArguments used later


def s_scheduler_kwargs_unknown(ctx: Ctx) -> list[str]:
    return table._text_with(ctx, '--training.lr_scheduler_kwargs={"foo": 1}')


def s_compile_backend_unknown(ctx: Ctx) -> list[str]:
    return table._text_with(ctx, "--training.torch_compile_backend=nosuch")


def s_dataloader_workers_negative(ctx: Ctx) -> list[str]:
    return table._text_with(ctx, "--training.dataloader_num_workers=-1")


CASES = [
    Case("search-step-zero", s_search_step_zero, ("space.yaml", "training.learning_rate", "`step`", "> 0", "0")),
    Case("search-log-with-step", s_search_log_with_step, ("space.yaml", "`log: true`", "`step`", "keep one")),
    Case("search-log-not-a-bool", s_search_log_not_a_bool, ("space.yaml", "`log`", "'yes'", "true or false")),
    Case("sweep-first-trial-fails", s_sweep_first_trial_fails, ("'priority_level'", "data.label_column")),
    Case("baseline-min-df-too-large", s_baseline_min_df_too_large, ("baseline.min_df: 1000", "train split has", "lower baseline.min_df")),
    Case("ensemble-min-df-too-large", s_ensemble_min_df_too_large, ("baseline.min_df: 1000", "train split has", "lower baseline.min_df")),
    Case("data-encoding-rot13", s_data_encoding_rot13, ("data.encoding", "rot13", "not a text encoding", "utf-8")),
    Case("data-encoding-undefined", s_data_encoding_undefined, ("data.encoding", "undefined", "reads no text", "utf-8")),
    Case("predict-encoding-base64", s_predict_encoding_base64, ("--encoding base64", "not a text encoding", "utf-8")),
    Case("report-to-misspelt", s_report_to_misspelt, ("training.report_to", "'wandbb'", "did you mean `wandb`")),
    Case("report-to-number-list", s_report_to_number_list, ("training.report_to", "[1]", "list of names", "mlflow")),
    Case("report-to-true", s_report_to_true, ("training.report_to", "True", "name or a list of names")),
    Case("multilabel-no-labels", s_multilabel_no_labels, ("notes.jsonl", "no row has any label", "data.label_column")),
    Case("multilabel-baseline-no-labels", s_multilabel_baseline_no_labels, ("notes.jsonl", "no row has any label")),
    Case("mlflow-server-down", s_mlflow_server_down, ("training.report_to: mlflow", "http://alice:***@127.0.0.1", "does not answer", "--training.report_to=none"), subprocess=True),
    Case("wandb-not-logged-in", s_wandb_not_logged_in, ("training.report_to: wandb", "wandb login", "WANDB_API_KEY", "WANDB_MODE=offline")),
    Case("wandb-malformed-key", s_wandb_malformed_key, ("training.report_to", "wandb could not start its run", "--training.report_to=none")),
    Case("delimiter-two-characters", s_delimiter_two_characters, ("data.delimiter", "';;'", "one character")),
    Case("delimiter-quote", s_delimiter_quote, ("data.delimiter", "one character", "not a quote")),
    Case("image-size-huge", s_image_size_huge, ("data.image_size", "20000", "1 to 4096")),
    Case("crop-scale-above-one", s_crop_scale_above_one, ("data.augment.crop_scale_min", "1.5", "(0, 1]")),
    Case("scheduler-kwargs-unknown", s_scheduler_kwargs_unknown, ("training.lr_scheduler_kwargs", "'foo'", "linear scheduler", "fix or remove")),
    Case("compile-backend-unknown", s_compile_backend_unknown, ("training.torch_compile_backend", "'nosuch'", "inductor")),
    Case("dataloader-workers-negative", s_dataloader_workers_negative, ("training.dataloader_num_workers", "-1", "0")),
    Case("search-int-fraction-step", s_search_int_fraction_step, ("training.num_train_epochs", "`step`", "whole number", "0.5")),
]  # fmt: skip


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=c.marks) for c in CASES])
def test_library_rejection_is_one_line_exit_2(
    case: Case, tmp_path, tiny_bert, tiny_vit, request, monkeypatch, capsys
):
    table.run_case(case, Ctx(tmp_path, tiny_bert, tiny_vit, request, monkeypatch), capsys)
