"""Bad inputs of batch prediction (issue 14): an --output that exists, an interrupted prediction met without
--resume, and every --resume that cannot continue the file it is given (another model, input, --top-k, a
changed input, a damaged checkpoint); and `export --check-data` given what it cannot check on. Same table machinery as `tests/test_bad_inputs.py`: one line, exit 2,
and the folder holding the predictions byte-identical."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from fieldtune.cli import main
from fieldtune.inference import predict_output
from tests import test_bad_inputs as table
from tests import test_bad_inputs_files as files
from tests.test_bad_inputs import Case, Ctx, _fake_run, _plain_folder

tiny_vit, tiny_classifier = table.tiny_vit, files.tiny_classifier  # module fixtures, found by name
_classifier = files._classifier
ROWS = 30


def _orders(ctx: Ctx, n: int = ROWS) -> Path:
    path = ctx.tmp / "orders.csv"
    path.write_text("text\n" + "".join(f"{i} pallets of cement\n" for i in range(n)))
    return path


def _predict(ctx: Ctx, *extra: str, model: Path | None = None) -> list[str]:
    out = ctx.run_dir / "preds.csv"
    return [
        "predict",
        str(model or _classifier(ctx)),
        "--input",
        str(ctx.tmp / "orders.csv"),
        "--output",
        str(out),
        *extra,
    ]


def _interrupted(ctx: Ctx) -> None:
    """run/preds.csv.partial and its checkpoint, as a prediction killed after committing every row leaves them."""
    ctx.run_dir.mkdir()
    _orders(ctx)
    with ctx.monkeypatch.context() as m:
        m.setattr(predict_output.PredictionFile, "finish", predict_output.PredictionFile.commit)
        assert main(_predict(ctx)) == 0
    assert predict_output.checkpoint_of(ctx.run_dir / "preds.csv").is_file()


def s_output_exists(ctx: Ctx) -> list[str]:
    _plain_folder(ctx.run_dir)
    (ctx.run_dir / "preds.csv").write_text("text,label\nyesterday,low\n")
    _orders(ctx)
    return _predict(ctx)


def s_partial_without_resume(ctx: Ctx) -> list[str]:
    _interrupted(ctx)
    return _predict(ctx)


def s_resume_and_overwrite(ctx: Ctx) -> list[str]:
    _interrupted(ctx)
    return _predict(ctx, "--resume", "--overwrite")


def s_resume_without_output(ctx: Ctx) -> list[str]:
    return ["predict", str(_classifier(ctx)), "--text", "two pallets", "--resume"]


def s_resume_nothing_there(ctx: Ctx) -> list[str]:
    _plain_folder(ctx.run_dir)
    _orders(ctx)
    return _predict(ctx, "--resume")


def s_resume_complete(ctx: Ctx) -> list[str]:
    _plain_folder(ctx.run_dir)
    _orders(ctx)
    assert main(_predict(ctx)) == 0
    return _predict(ctx, "--resume")


def s_resume_other_top_k(ctx: Ctx) -> list[str]:
    _interrupted(ctx)
    return _predict(ctx, "--resume", "--top-k", "2")


def s_resume_other_model(ctx: Ctx) -> list[str]:
    _interrupted(ctx)
    other = ctx.tmp / "other-model"
    shutil.copytree(_classifier(ctx), other)
    config = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json.dumps(config | {"hidden_dropout_prob": 0.3}))
    return _predict(ctx, "--resume", model=other)


def s_resume_other_input(ctx: Ctx) -> list[str]:
    _interrupted(ctx)
    shutil.copy(ctx.tmp / "orders.csv", ctx.tmp / "todays_orders.csv")
    argv = _predict(ctx, "--resume")
    argv[argv.index("--input") + 1] = str(ctx.tmp / "todays_orders.csv")
    return argv


def s_resume_input_changed(ctx: Ctx) -> list[str]:
    _interrupted(ctx)
    path = _orders(ctx)
    path.write_text(path.read_text().replace(f"{ROWS - 1} pallets", "one crate"))
    return _predict(ctx, "--resume")


def s_resume_input_shorter(ctx: Ctx) -> list[str]:
    _interrupted(ctx)
    _orders(ctx, n=10)
    return _predict(ctx, "--resume")


def s_resume_checkpoint_damaged(ctx: Ctx) -> list[str]:
    _interrupted(ctx)
    predict_output.checkpoint_of(ctx.run_dir / "preds.csv").write_text('{"version": 1, "rows": ')
    return _predict(ctx, "--resume")


def s_resume_partial_cut_short(ctx: Ctx) -> list[str]:
    _interrupted(ctx)
    partial = predict_output.partial_of(ctx.run_dir / "preds.csv")
    partial.write_bytes(partial.read_bytes()[:40])
    return _predict(ctx, "--resume")


def s_batch_size_zero(ctx: Ctx) -> list[str]:
    return ["predict", str(_classifier(ctx)), "--text", "two pallets", "--batch-size", "0"]


def s_num_workers_negative(ctx: Ctx) -> list[str]:
    return ["predict", str(_classifier(ctx)), "--text", "two pallets", "--num-workers", "-1"]


def s_export_check_data_missing(ctx: Ctx) -> list[str]:
    _fake_run(ctx.run_dir)
    out = ctx.run_dir / "onnx"
    return [
        "export",
        str(ctx.run_dir),
        "--format",
        "onnx",
        "--out",
        str(out),
        "--check-data",
        "new_orders.csv",
    ]


def s_export_check_data_without_onnx(ctx: Ctx) -> list[str]:
    _fake_run(ctx.run_dir)
    out = ctx.run_dir / "merged"
    return [
        "export",
        str(ctx.run_dir),
        "--merge",
        "--out",
        str(out),
        "--check-data",
        str(ctx.tmp / "orders.csv"),
    ]


def s_table_without_the_models_columns(ctx: Ctx) -> list[str]:
    """A model trained on `note` + `site` (its config.json says so), given a table with neither (issue 33)."""
    model = ctx.tmp / "model"
    shutil.copytree(_classifier(ctx), model)
    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**config, "fieldtune_text_columns": ["note", "site"]}))
    (ctx.tmp / "orders.csv").write_text("remark,id\nurgent,1\n")
    return _predict(ctx, model=model)


CASES = [
    Case("predict-table-without-the-models-columns", s_table_without_the_models_columns, ("orders.csv", "note", "--text-column")),
    Case("predict-output-exists", s_output_exists, ("--output", "preds.csv", "already exists", "--overwrite"), existing=True),
    Case("predict-partial-without-resume", s_partial_without_resume, ("preds.csv.partial", "interrupted", "--resume", "--overwrite"), existing=True),
    Case("predict-resume-and-overwrite", s_resume_and_overwrite, ("--resume", "--overwrite", "contradict"), existing=True),
    Case("predict-resume-without-output", s_resume_without_output, ("--resume needs --output",)),
    Case("predict-resume-nothing-there", s_resume_nothing_there, ("--resume", "no interrupted prediction", "without --resume"), existing=True),
    Case("predict-resume-complete", s_resume_complete, ("preds.csv", "already complete", "--overwrite"), existing=True),
    Case("predict-resume-other-top-k", s_resume_other_top_k, ("--resume", "columns", "label_2", "--top-k", "--overwrite"), existing=True),
    Case("predict-resume-other-model", s_resume_other_model, ("--resume", "another model", "--overwrite"), existing=True),
    Case("predict-resume-other-input", s_resume_other_input, ("--resume", "another input", "orders.csv", "--overwrite"), existing=True),
    Case("predict-resume-input-changed", s_resume_input_changed, ("--resume", f"row {ROWS}", "input changed", "--overwrite"), existing=True),
    Case("predict-resume-input-shorter", s_resume_input_shorter, ("--resume", f"fewer than the {ROWS}", "--overwrite"), existing=True),
    Case("predict-resume-checkpoint-damaged", s_resume_checkpoint_damaged, ("preds.csv.partial.json", "unreadable", "--overwrite"), existing=True),
    Case("predict-resume-partial-cut-short", s_resume_partial_cut_short, ("preds.csv.partial", "shorter", "--overwrite"), existing=True),
    Case("predict-batch-size-zero", s_batch_size_zero, ("--batch-size 0", "1 or more")),
    Case("predict-num-workers-negative", s_num_workers_negative, ("--num-workers -1", "0 or more")),
    Case("export-check-data-missing", s_export_check_data_missing, ("--check-data", "new_orders.csv", "does not exist"), existing=True),
    Case("export-check-data-without-onnx", s_export_check_data_without_onnx, ("--check-data", "--format onnx"), existing=True),
]  # fmt: skip


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=c.marks) for c in CASES])
def test_bad_predict_input_is_one_line_exit_2(
    case: Case, tmp_path, tiny_bert, tiny_vit, request, monkeypatch, capsys
):
    table.run_case(case, Ctx(tmp_path, tiny_bert, tiny_vit, request, monkeypatch), capsys)


def test_overwrite_replaces_only_when_complete(tmp_path, tiny_bert, tiny_vit, request, monkeypatch, capsys):
    """--overwrite keeps the old file in place until the new one is complete, then replaces it; and a
    stale partial is started over."""
    ctx = Ctx(tmp_path, tiny_bert, tiny_vit, request, monkeypatch)
    _interrupted(ctx)
    out = ctx.run_dir / "preds.csv"
    out.write_text("text,label\nyesterday,low\n")
    assert main(_predict(ctx, "--overwrite")) == 0
    assert len(out.read_text().splitlines()) == ROWS + 1
    assert sorted(p.name for p in ctx.run_dir.iterdir()) == ["preds.csv"]
