"""Bad inputs of batch prediction (issue 14): an --output that exists, an interrupted prediction met without
--resume, and every --resume that cannot continue the file it is given (another model, input, --top-k, a
changed input, a damaged checkpoint); an --output that is the --input (issue 29: by any path or link,
whatever the flags); and `export --check-data` given what it cannot check on. Same table machinery as `tests/test_bad_inputs.py`: one line, exit 2,
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


def _table_in_run_dir(ctx: Ctx) -> Path:
    """The user's input table, inside the folder whose bytes the case checks."""
    ctx.run_dir.mkdir()
    table = ctx.run_dir / "orders.csv"
    table.write_text("text\n" + "".join(f"{i} pallets of cement\n" for i in range(ROWS)))
    return table


def _predict_into(ctx: Ctx, source: Path, out: Path, *extra: str) -> list[str]:
    return ["predict", str(_classifier(ctx)), "--input", str(source), "--output", str(out), *extra]


def s_output_is_input(ctx: Ctx) -> list[str]:
    table = _table_in_run_dir(ctx)
    return _predict_into(ctx, table, table, "--overwrite")


def s_output_is_input_by_other_spelling(ctx: Ctx) -> list[str]:
    table = _table_in_run_dir(ctx)
    (ctx.run_dir / "sub").mkdir()
    return _predict_into(ctx, table, ctx.run_dir / "sub" / ".." / "orders.csv", "--overwrite")


def s_output_is_link_to_input(ctx: Ctx) -> list[str]:
    table = _table_in_run_dir(ctx)
    (ctx.run_dir / "preds.csv").symlink_to(table)
    return _predict_into(ctx, table, ctx.run_dir / "preds.csv", "--overwrite")


def s_output_is_hard_link_to_input(ctx: Ctx) -> list[str]:
    table = _table_in_run_dir(ctx)
    (ctx.run_dir / "preds.csv").hardlink_to(table)
    return _predict_into(ctx, table, ctx.run_dir / "preds.csv", "--overwrite")


def s_input_is_link_to_output(ctx: Ctx) -> list[str]:
    table = _table_in_run_dir(ctx)
    (ctx.tmp / "today.csv").symlink_to(table)
    return _predict_into(ctx, ctx.tmp / "today.csv", table, "--overwrite")


def s_output_is_input_resume(ctx: Ctx) -> list[str]:
    table = _table_in_run_dir(ctx)
    return _predict_into(ctx, table, table, "--resume")


def _notes_folder(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "monday.txt").write_text("two pallets of cement\nfive crates\n")
    (folder / "tuesday.csv").write_text("text\none drum of oil\n")
    (folder / "wednesday.csv").write_text("text\nten sacks\n")
    return folder


def s_text_model_folder(ctx: Ctx) -> list[str]:
    notes = _notes_folder(ctx.run_dir / "notes")
    return ["predict", str(_classifier(ctx)), "--input", str(notes)]


def s_text_model_folder_by_word(ctx: Ctx) -> list[str]:
    _notes_folder(ctx.tmp / "notes")  # run_case works in ctx.tmp: `notes` names the folder
    return ["predict", str(_classifier(ctx)), "--input", "notes"]


def s_text_model_glob(ctx: Ctx) -> list[str]:
    _notes_folder(ctx.run_dir / "notes")
    return ["predict", str(_classifier(ctx)), "--input", str(ctx.run_dir / "notes" / "*.csv")]


def s_text_model_glob_by_word(ctx: Ctx) -> list[str]:
    _notes_folder(ctx.tmp / "notes")
    return ["predict", str(_classifier(ctx)), "--input", "note*"]


def s_text_model_device(ctx: Ctx) -> list[str]:
    return ["predict", str(_classifier(ctx)), "--input", "/dev/null"]


def s_text_model_empty_input(ctx: Ctx) -> list[str]:
    return ["predict", str(_classifier(ctx)), "--input", ""]


def _words(ctx: Ctx, *extra: str) -> list[str]:
    return ["predict", str(_classifier(ctx)), "--text", "two pallets", *extra]


def s_text_column_with_text(ctx: Ctx) -> list[str]:
    return _words(ctx, "--text-column", "note")


def s_num_workers_on_text_model(ctx: Ctx) -> list[str]:
    return _words(ctx, "--num-workers", "2")


def s_test_time_on_text_model(ctx: Ctx) -> list[str]:
    return _words(ctx, "--test-time", "flips")


def s_text_column_with_txt(ctx: Ctx) -> list[str]:
    (ctx.tmp / "notes.txt").write_text("two pallets\n")
    return ["predict", str(_classifier(ctx)), "--input", str(ctx.tmp / "notes.txt"), "--text-column", "note"]


def s_encoding_on_image_model(ctx: Ctx) -> list[str]:
    photo = table._png(ctx.tmp / "photo.png")
    return ["predict", str(ctx.vit), "--input", str(photo), "--encoding", "gb18030"]


def s_image_model_empty_input(ctx: Ctx) -> list[str]:
    table._png(ctx.tmp / "in_the_working_folder.png")  # what Path("") would have predicted
    return ["predict", str(ctx.vit), "--input", ""]


def s_text_model_image_file(ctx: Ctx) -> list[str]:
    table._png(ctx.run_dir / "scan.png")
    return ["predict", str(_classifier(ctx)), "--input", str(ctx.run_dir / "scan.png")]


def s_serve_max_batch_zero(ctx: Ctx) -> list[str]:
    return ["serve", str(_classifier(ctx)), "--max-batch", "0"]


def s_serve_port_taken(ctx: Ctx) -> list[str]:
    """Another program listens on the port: refused before the model loads."""
    import socket

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    ctx.request.addfinalizer(taken.close)
    return ["serve", str(_classifier(ctx)), "--port", str(taken.getsockname()[1])]


def s_serve_without_fastapi(ctx: Ctx) -> list[str]:
    """FastAPI not installed (it is an optional extra): the pip command, before any model loads."""
    import importlib.util

    real = importlib.util.find_spec
    ctx.monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "fastapi" else real(name, *a)
    )
    return ["serve", str(_classifier(ctx))]


def s_export_calibration_text_model(ctx: Ctx) -> list[str]:
    _fake_run(ctx.run_dir)  # a text run: int8 is dynamic, nothing to calibrate
    (ctx.tmp / "photos").mkdir()
    out = ctx.run_dir / "onnx"
    return ["export", str(ctx.run_dir), "--format", "onnx", "--quantize", "int8", "--out", str(out), "--calibration", str(ctx.tmp / "photos")]  # fmt: skip


def s_export_calibration_without_quantize(ctx: Ctx) -> list[str]:
    _fake_run(ctx.run_dir)
    out = ctx.run_dir / "onnx"
    return ["export", str(ctx.run_dir), "--format", "onnx", "--out", str(out), "--calibration", str(ctx.tmp)]  # fmt: skip


def s_table_without_the_models_columns(ctx: Ctx) -> list[str]:
    """A model trained on `note` + `site` (its config.json says so), given a table with neither (issue 33)."""
    model = ctx.tmp / "model"
    shutil.copytree(_classifier(ctx), model)
    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**config, "fieldtune_text_columns": ["note", "site"]}))
    (ctx.tmp / "orders.csv").write_text("remark,id\nurgent,1\n")
    return _predict(ctx, model=model)


CASES = [
    Case("predict-text-model-folder", s_text_model_folder, ("--input", "notes", "is a folder", "a text model reads one table", "--text"), existing=True),
    Case("predict-text-model-folder-by-word", s_text_model_folder_by_word, ("--input notes", "is a folder", "--text")),
    Case("predict-text-model-glob", s_text_model_glob, ("*.csv", "pattern matching files", "one file"), existing=True),
    Case("predict-text-model-glob-by-word", s_text_model_glob_by_word, ("--input note*", "pattern matching files")),
    Case("predict-text-model-device", s_text_model_device, ("/dev/null", "not a regular file", "a text model reads")),
    Case("predict-text-model-empty-input", s_text_model_empty_input, ("--input is empty", "--text")),
    Case("predict-text-column-with-text", s_text_column_with_text, ("--text-column note", "does nothing", "table --input")),
    Case("predict-num-workers-on-text-model", s_num_workers_on_text_model, ("--num-workers 2", "does nothing", "image model")),
    Case("predict-test-time-on-text-model", s_test_time_on_text_model, ("--test-time flips", "does nothing", "image model")),
    Case("predict-text-column-with-txt", s_text_column_with_txt, ("--text-column note", ".txt has one text per line")),
    Case("predict-encoding-on-image-model", s_encoding_on_image_model, ("--encoding gb18030", "does nothing", "text model")),
    Case("predict-image-model-empty-input", s_image_model_empty_input, ("--input is empty", "--text")),
    Case("predict-text-model-image-file", s_text_model_image_file, ("scan.png", "'.png'", "a text model reads"), existing=True),
    Case("predict-output-is-input", s_output_is_input, ("--output", "orders.csv", "is the --input file", "another file"), existing=True, subprocess=True),
    Case("predict-output-is-input-other-spelling", s_output_is_input_by_other_spelling, ("is the --input file", "another file"), existing=True),
    Case("predict-output-is-link-to-input", s_output_is_link_to_input, ("preds.csv", "is the --input file", "link"), existing=True),
    Case("predict-output-is-hard-link-to-input", s_output_is_hard_link_to_input, ("preds.csv", "is the --input file", "link"), existing=True),
    Case("predict-input-is-link-to-output", s_input_is_link_to_output, ("today.csv", "is the --input file"), existing=True),
    Case("predict-output-is-input-resume", s_output_is_input_resume, ("is the --input file",), existing=True),
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
    Case("export-check-data-without-onnx", s_export_check_data_without_onnx, ("--check-data", "ONNX export only", "--format onnx"), existing=True),
    Case("serve-max-batch-zero", s_serve_max_batch_zero, ("--max-batch 0", "1 or more")),
    Case("serve-port-taken", s_serve_port_taken, ("Cannot listen on 127.0.0.1:", "in use", "another --port")),
    Case("serve-without-fastapi", s_serve_without_fastapi, ("fastapi", "not installed", "pip install 'fieldtune[serve]'")),
    Case("export-calibration-text-model", s_export_calibration_text_model, ("--calibration", "text model", "dynamically", "leave --calibration out"), existing=True),
    Case("export-calibration-without-quantize", s_export_calibration_without_quantize, ("--calibration", "--quantize int8"), existing=True),
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


def test_text_file_extension_is_case_insensitive(tmp_path, tiny_bert, tiny_vit, request, monkeypatch, capsys):
    """NOTES.TXT is a .txt file (a text per line, no header row), as notes.txt is."""
    ctx = Ctx(tmp_path, tiny_bert, tiny_vit, request, monkeypatch)
    (tmp_path / "NOTES.TXT").write_text("two pallets of cement\nfive crates\none drum\n")
    out = tmp_path / "preds.csv"
    assert (
        main(["predict", str(_classifier(ctx)), "--input", str(tmp_path / "NOTES.TXT"), "--output", str(out)])
        == 0
    )
    assert out.read_text().splitlines()[1].startswith("two pallets of cement,")
    assert len(out.read_text().splitlines()) == 4


def test_output_inside_the_input_folder_is_never_read(tmp_path, tiny_bert, tiny_vit, request, monkeypatch):
    """Predictions written into the folder (or under the glob) being predicted are not predicted on: an image
    model reads image files only, and the .csv / .jsonl output is none (a text model refuses folders)."""
    for i in range(3):
        table._png(tmp_path / "photos" / f"p{i}.png", colour=(40 * i, 90, 30))
    out = tmp_path / "photos" / "preds.csv"
    for source in (tmp_path / "photos", tmp_path / "photos" / "*", tmp_path / "photos" / "*"):
        extra = ["--overwrite"] if out.exists() else []
        assert main(["predict", str(tiny_vit), "--input", str(source), "--output", str(out), *extra]) == 0
        rows = out.read_text().splitlines()[1:]
        assert [r.split(",")[0].rsplit("/", 1)[-1] for r in rows] == ["p0.png", "p1.png", "p2.png"]
