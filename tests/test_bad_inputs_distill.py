"""Bad `distill:` settings (issue 35) through the CLI: one line, exit 2, nothing written. Same table machinery
as `tests/test_bad_inputs.py`; what distillation does is tested in tests/test_distill.py. The teacher runs
here are folders written by hand: every check fires before a teacher or student trains."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests import test_bad_inputs as table
from tests.test_bad_inputs import Case, Ctx, _recipe, _text_with, _train

tiny_vit = table.tiny_vit  # module fixture, found by name


def _teacher_dir(ctx: Ctx, task: str = "text-classification", labels: list[str] | None = None) -> Path:
    """A finished run directory's files: config.yaml, eval_results.json and (`labels`) a model/ of the tiny
    BERT with a head for those labels."""
    folder = ctx.tmp / "teacher"
    (folder / "model").mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump({"task": task, "model": {"max_length": 32}}))
    (folder / "eval_results.json").write_text(json.dumps({"task": task, "metrics": {}}))
    if labels:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        model = AutoModelForSequenceClassification.from_pretrained(
            ctx.bert, num_labels=len(labels), id2label=dict(enumerate(labels)),
            label2id={n: i for i, n in enumerate(labels)},
        )  # fmt: skip
        model.save_pretrained(folder / "model")
        AutoTokenizer.from_pretrained(ctx.bert).save_pretrained(folder / "model")
    return folder


def _with_teacher(ctx: Ctx, teacher: Path | str, *overrides: str) -> list[str]:
    return _text_with(ctx, f"--distill.teacher={teacher}", *overrides)


def s_teacher_missing(ctx: Ctx) -> list[str]:
    return _with_teacher(ctx, ctx.tmp / "no_such_run")


def s_teacher_not_a_run(ctx: Ctx) -> list[str]:
    folder = ctx.tmp / "just_a_model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    return _with_teacher(ctx, folder)


def s_teacher_unfinished(ctx: Ctx) -> list[str]:
    folder = _teacher_dir(ctx)
    (folder / "eval_results.json").unlink()
    return _with_teacher(ctx, folder)


def s_teacher_baseline(ctx: Ctx) -> list[str]:
    folder = _teacher_dir(ctx)
    results = {"task": "text-classification", "metrics": {}, "baseline": {"library": "scikit-learn"}}
    (folder / "eval_results.json").write_text(json.dumps(results))
    return _with_teacher(ctx, folder)


def s_teacher_other_task(ctx: Ctx) -> list[str]:
    return _with_teacher(ctx, _teacher_dir(ctx, task="text-multilabel"))


def s_teacher_other_labels(ctx: Ctx) -> list[str]:
    # the orders' classes are high / low / medium; this teacher knows high / low / urgent
    return _with_teacher(ctx, _teacher_dir(ctx, labels=["high", "low", "urgent"]))


def s_student_tags(ctx: Ctx) -> list[str]:
    path = ctx.tmp / "notes.jsonl"
    path.write_text('{"note": "cold boxes", "tags": ["cold"]}\n' * 12)
    data = {"path": str(path), "text_columns": ["note"], "label_column": "tags"}
    recipe = _recipe(ctx, task="text-multilabel", data=data)
    return _train(ctx, recipe, f"--distill.teacher={_teacher_dir(ctx, task='text-multilabel')}")


def s_student_regression(ctx: Ctx) -> list[str]:
    data = {**table._orders(ctx), "label_column": "demand_quantity"}
    recipe = _recipe(ctx, task="text-regression", data=data)
    return _train(ctx, recipe, f"--distill.teacher={_teacher_dir(ctx, task='text-regression')}")


def s_student_images(ctx: Ctx) -> list[str]:
    root = table._image_classes(ctx.tmp / "photos", {"a": 6, "b": 6})
    recipe = _recipe(
        ctx, task="image-classification", model=ctx.vit, data={"builder": "image_folder", "path": str(root)}
    )
    return _train(ctx, recipe, f"--distill.teacher={_teacher_dir(ctx, task='image-classification')}")


CASES = [
    Case("teacher-missing", s_teacher_missing, ("distill.teacher", "no_such_run", "does not exist", "finished fieldtune run")),
    Case("teacher-not-a-run-directory", s_teacher_not_a_run, ("distill.teacher", "just_a_model", "not a fieldtune run directory", "config.yaml")),
    Case("teacher-unfinished", s_teacher_unfinished, ("distill.teacher", "unfinished", "--resume")),
    Case("teacher-baseline-run", s_teacher_baseline, ("distill.teacher", "TF-IDF baseline run", "fieldtune train")),
    Case("teacher-other-task", s_teacher_other_task, ("distill.teacher", "text-multilabel run", "text-classification teacher")),
    Case("teacher-other-labels", s_teacher_other_labels, ("distill.teacher", "only the teacher has [urgent]", "only the data has [medium]", "same labels")),
    Case("student-tags", s_student_tags, ("distill.teacher", "text-multilabel", "one class per", "remove it")),
    Case("student-regression", s_student_regression, ("distill.teacher", "text-regression", "remove it")),
    Case("student-images", s_student_images, ("distill.teacher", "image-classification", "remove it")),
    Case("cached-probe", lambda c: _with_teacher(c, _teacher_dir(c), "--method.name=probe"), ("distill.teacher", "method.name: probe", "cached features", "method.feature_cache: false")),
    Case("baseline-method", lambda c: _with_teacher(c, _teacher_dir(c), "--method.name=baseline"), ("distill.teacher", "method.name: baseline", "fits the baseline")),
    Case("alpha-above-one", lambda c: _with_teacher(c, _teacher_dir(c), "--distill.alpha=1.5"), ("distill.alpha", "[0, 1]")),
    Case("temperature-zero", lambda c: _with_teacher(c, _teacher_dir(c), "--distill.temperature=0"), ("distill.temperature", "> 0")),
    Case("unknown-key", lambda c: _with_teacher(c, _teacher_dir(c), "--distill.temprature=2"), ("distill.temprature", "did you mean `temperature`")),
]  # fmt: skip


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=c.marks) for c in CASES])
def test_bad_distill_setting_is_one_line_exit_2(
    case: Case, tmp_path, tiny_bert, tiny_vit, request, monkeypatch, capsys
):
    table.run_case(case, Ctx(tmp_path, tiny_bert, tiny_vit, request, monkeypatch), capsys)
