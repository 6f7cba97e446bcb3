"""Bad baseline inputs (issue 13, items 6-8) through the CLI: one line, exit 2, nothing written or touched.
Same table machinery as `tests/test_bad_inputs.py`."""

from __future__ import annotations

import json
import math
import shutil

import pytest

from fieldtune.cli import main
from tests import test_bad_inputs as table
from tests.test_bad_inputs import Case, Ctx, _recipe

tiny_vit = table.tiny_vit  # module fixture, found by name


@pytest.fixture(scope="module")
def fitted_baseline(tiny_bert, tmp_path_factory):
    """One baseline run on generated orders, copied into the cases that need a finished one."""
    folder = tmp_path_factory.mktemp("fitted")
    ctx = Ctx(folder, tiny_bert, tiny_bert, None, None)
    assert main(["baseline", str(_recipe(ctx)), "--output-dir", str(folder / "run")]) == 0
    return folder / "run"


def _baseline(ctx: Ctx, *extra: str, recipe=None) -> list[str]:
    return ["baseline", str(recipe or _recipe(ctx)), "--output-dir", str(ctx.run_dir), *extra]


def _copy_fitted(ctx: Ctx) -> None:
    shutil.copytree(ctx.request.getfixturevalue("fitted_baseline"), ctx.run_dir)


def s_unknown_setting(ctx: Ctx) -> list[str]:
    return _baseline(ctx, "--baseline.clasifier=ridge")


def s_classifier_wrong_for_task(ctx: Ctx) -> list[str]:
    return _baseline(ctx, "--baseline.classifier=ridge")


def s_bad_ngram_range(ctx: Ctx) -> list[str]:
    return _baseline(ctx, "--baseline.char_ngrams=[5, 2]")


def s_tags_class_weight_list(ctx: Ctx) -> list[str]:
    notes = ctx.tmp / "notes.jsonl"
    rows = [{"note": "cold boxes", "tags": ["cold"]}, {"note": "big crate", "tags": ["bulky"]}] * 10
    notes.write_text("".join(json.dumps(r) + "\n" for r in rows))
    data = {"path": str(notes), "text_columns": ["note"], "label_column": "tags"}
    recipe = _recipe(ctx, task="text-multilabel", data=data)
    return _baseline(ctx, "--training.class_weights=[1, 2]", recipe=recipe)


def s_task_without_baseline(ctx: Ctx) -> list[str]:
    from fieldtune.tasks import table as tasks

    # the TEXT row itself, changed for the test (a frozen row: through its __dict__): a copy would be another
    # row, which the method rows (naming the rows they fit) would not know
    ctx.monkeypatch.setitem(vars(tasks.TASKS["text-classification"].inputs), "baseline", None)
    return _baseline(ctx)


def s_run_dir_exists(ctx: Ctx) -> list[str]:
    _copy_fitted(ctx)
    return _baseline(ctx)


def s_export_onnx(ctx: Ctx) -> list[str]:
    _copy_fitted(ctx)
    return ["export", str(ctx.run_dir), "--format", "onnx", "--out", str(ctx.tmp / "onnx")]


def s_merge(ctx: Ctx) -> list[str]:
    _copy_fitted(ctx)
    return ["export", str(ctx.run_dir), "--merge", "--out", str(ctx.tmp / "merged")]


def s_foreign_types_in_file(ctx: Ctx) -> list[str]:
    # a downloaded model.skops that would call a function outside scikit-learn when used: refused unread
    import skops.io as sio
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    _copy_fitted(ctx)
    sio.dump(make_pipeline(FunctionTransformer(math.sqrt)), ctx.run_dir / "model" / "model.skops")
    return ["predict", str(ctx.run_dir), "--text", "two pallets"]


def s_corrupt_file(ctx: Ctx) -> list[str]:
    _copy_fitted(ctx)
    (ctx.run_dir / "model" / "model.skops").write_bytes(b"not a zip file")
    return ["evaluate", str(ctx.run_dir)]


CASES = [
    Case("baseline-unknown-setting", s_unknown_setting, ("baseline.clasifier", "classifier")),
    Case("baseline-classifier-wrong-for-task", s_classifier_wrong_for_task, ("baseline.classifier: ridge", "text-classification", "linear_svc")),
    Case("baseline-bad-ngram-range", s_bad_ngram_range, ("baseline.char_ngrams", "min <= max")),
    Case("baseline-tags-class-weight-list", s_tags_class_weight_list, ("training.class_weights", "balanced")),
    Case("baseline-task-without-baseline", s_task_without_baseline, ("text-classification", "has no baseline")),
    Case("baseline-run-dir-exists", s_run_dir_exists, ("already exists", "--overwrite"), existing=True),
    Case("baseline-export-onnx", s_export_onnx, ("scikit-learn baseline", "fieldtune predict"), existing=True),
    Case("baseline-merge", s_merge, ("scikit-learn baseline", "nothing to merge"), existing=True),
    Case("baseline-foreign-types", s_foreign_types_in_file, ("model.skops", "math.sqrt", "refusing"), existing=True),
    Case("baseline-corrupt-file", s_corrupt_file, ("model.skops", "fieldtune baseline"), existing=True),
]  # fmt: skip


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=c.marks) for c in CASES])
def test_bad_baseline_input_is_one_line_exit_2(
    case: Case, tmp_path, tiny_bert, tiny_vit, request, monkeypatch, capsys
):
    table.run_case(case, Ctx(tmp_path, tiny_bert, tiny_vit, request, monkeypatch), capsys)
