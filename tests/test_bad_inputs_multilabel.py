"""Bad multi-label inputs (issue 12, item 8) through the CLI: one line, exit 2, nothing written. Same table
machinery as `tests/test_bad_inputs.py`; a row with no label at all is not a failure (test_multilabel.py)."""

from __future__ import annotations

import json

import pytest

from tests import test_bad_inputs as table
from tests.test_bad_inputs import Case, Ctx, _recipe, _train

tiny_vit = table.tiny_vit  # module fixture, found by name


def _notes(ctx: Ctx, rows: list[dict], name: str = "notes.jsonl") -> str:
    path = ctx.tmp / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def _tag_recipe(ctx: Ctx, path: str, **data: object) -> list[str]:
    spec = {"path": path, "text_columns": ["note"], "label_column": "tags", **data}
    return _train(ctx, _recipe(ctx, task="text-multilabel", data=spec))


def s_tags_mix_lists_and_strings(ctx: Ctx) -> list[str]:
    rows = [
        {"note": "cold boxes", "tags": ["cold"]},
        {"note": "big urgent crate", "tags": "bulky;urgent"},
    ] * 6
    return _tag_recipe(ctx, _notes(ctx, rows))


def s_tags_unknown_in_test(ctx: Ctx) -> list[str]:
    folder = ctx.tmp / "splits"
    folder.mkdir()
    train = [{"note": "cold boxes", "tags": ["cold"]}, {"note": "big crate", "tags": ["bulky"]}] * 6
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in train))
    (folder / "test.jsonl").write_text(json.dumps({"note": "glass", "tags": ["fragile"]}) + "\n")
    return _tag_recipe(ctx, str(folder))


def s_tags_blank_delimiter(ctx: Ctx) -> list[str]:
    rows = [{"note": "cold boxes", "tags": "cold"}] * 6
    return _tag_recipe(ctx, _notes(ctx, rows), label_delimiter=" ")


def s_tags_label_left_out_of_train(ctx: Ctx) -> list[str]:
    # "fragile" occurs once: the held-out splits can take it, leaving train without an example of it
    rows = [{"note": f"cold boxes {i}", "tags": ["cold"]} for i in range(10)]
    rows += [{"note": "glass", "tags": ["fragile"]}]
    return _tag_recipe(ctx, _notes(ctx, rows), test_size=0.5, validation_size=0.3, seed=1)


def _flag_table(ctx: Ctx, bad: str | None = None) -> str:
    rows = [{"note": f"crate {i}", "urgent": i % 2, "fragile": "yes" if i % 3 else "no"} for i in range(12)]
    if bad is not None:
        rows[2]["fragile"] = bad
    return _notes(ctx, rows)


def _flag_recipe(ctx: Ctx, path: str, task: str = "text-multilabel", **data: object) -> list[str]:
    spec = {"path": path, "text_columns": ["note"], "label_columns": ["urgent", "fragile"], **data}
    return _train(ctx, _recipe(ctx, task=task, data=spec))


def s_label_columns_bad_value(ctx: Ctx) -> list[str]:
    return _flag_recipe(ctx, _flag_table(ctx, bad="maybe"))


def s_label_columns_two(ctx: Ctx) -> list[str]:
    return _flag_recipe(ctx, _flag_table(ctx, bad="2"))


def s_label_columns_and_label_column(ctx: Ctx) -> list[str]:
    return _flag_recipe(ctx, _flag_table(ctx), label_column="urgent")


def s_label_columns_single_label_task(ctx: Ctx) -> list[str]:
    return _flag_recipe(ctx, _flag_table(ctx), task="text-classification")


def s_label_columns_missing_column(ctx: Ctx) -> list[str]:
    return _flag_recipe(ctx, _flag_table(ctx), label_columns=["urgent", "hazardous"])


def s_label_columns_for_images(ctx: Ctx) -> list[str]:
    data = {"builder": "image_folder", "path": str(ctx.tmp), "label_columns": ["hazmat_label", "pallet_wrap"]}
    return _train(ctx, _recipe(ctx, task="image-multilabel", model=ctx.vit, data=data))


CASES = [
    Case("tags-mix-lists-and-strings", s_tags_mix_lists_and_strings, ("'tags'", "mixes lists and strings", "one form")),
    Case("tags-unknown-in-test", s_tags_unknown_in_test, ("fragile", "never in train", "add training examples")),
    Case("tags-blank-delimiter", s_tags_blank_delimiter, ("data.label_delimiter", "non-blank")),
    Case("label-columns-bad-value", s_label_columns_bad_value, ("row 3", "'fragile'", "'maybe'", "0/1")),
    Case("label-columns-a-two", s_label_columns_two, ("row 3", "'fragile'", "'2'", "0/1")),
    Case("label-columns-and-label-column", s_label_columns_and_label_column, ("data.label_column", "data.label_columns", "keep one")),
    Case("label-columns-single-label-task", s_label_columns_single_label_task, ("data.label_columns", "only valid for multi-label", "text-classification")),
    Case("label-columns-for-images", s_label_columns_for_images, ("data.label_columns", "image-multilabel", "metadata.jsonl")),
    Case("label-columns-missing-column", s_label_columns_missing_column, ("'hazardous'", "data.label_columns", "missing")),
    Case("tags-label-left-out-of-train", s_tags_label_left_out_of_train, ("fragile", "no example left in the train split", "data.test_size")),
]  # fmt: skip


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=c.marks) for c in CASES])
def test_bad_multilabel_input_is_one_line_exit_2(
    case: Case, tmp_path, tiny_bert, tiny_vit, request, monkeypatch, capsys
):
    table.run_case(case, Ctx(tmp_path, tiny_bert, tiny_vit, request, monkeypatch), capsys)
