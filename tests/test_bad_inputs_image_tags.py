"""Bad image-label inputs from metadata files (`image-multilabel` label sets, `image-regression` numbers)
through the CLI: one line, exit 2, nothing written. Same table machinery as `tests/test_bad_inputs.py`; an image with no label at all is
not a failure (tests/test_multilabel_images.py counts it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests import test_bad_inputs as table
from tests.test_bad_inputs import Case, Ctx, _png, _recipe, _train

tiny_vit = table.tiny_vit  # module fixture, found by name


def _tagged(ctx: Ctx, rows: list[dict], name: str = "metadata.jsonl") -> Path:
    """PNG files for every row's file_name, and the metadata file listing them."""
    root = ctx.tmp / "photos"
    root.mkdir(exist_ok=True)
    for i, row in enumerate(rows):
        _png(root / row["file_name"], (40 * (i % 6), 120, 200))
    if name.endswith(".jsonl"):
        (root / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        lines = ["file_name,label" + (",split" if "split" in rows[0] else "")]
        lines += [",".join(str(v) for v in r.values()) for r in rows]
        (root / name).write_text("\n".join(lines) + "\n")
    return root


def _train_tags(ctx: Ctx, root: Path, task: str = "image-multilabel", **data: object) -> list[str]:
    spec = {"builder": "image_folder", "path": str(root), **data}
    return _train(ctx, _recipe(ctx, task=task, model=ctx.vit, data=spec))


def s_image_tags_mix_lists_and_strings(ctx: Ctx) -> list[str]:
    rows = [{"file_name": f"{i}.png", "label": ["hazmat"] if i % 2 else "fragile;hazmat"} for i in range(8)]
    return _train_tags(ctx, _tagged(ctx, rows))


def s_image_tags_unknown_in_test(ctx: Ctx) -> list[str]:
    rows = [
        {"file_name": f"{i}.png", "label": ["hazmat"] if i % 2 else ["wrap"], "split": "train"}
        for i in range(8)
    ]
    rows.append({"file_name": "t.png", "label": ["fragile"], "split": "test"})
    return _train_tags(ctx, _tagged(ctx, rows))


def s_image_tags_blank_delimiter(ctx: Ctx) -> list[str]:
    rows = [{"file_name": f"{i}.png", "label": "hazmat;wrap"} for i in range(8)]
    return _train_tags(ctx, _tagged(ctx, rows, "metadata.csv"), label_delimiter=" ")


def s_image_label_lists_for_one_class_task(ctx: Ctx) -> list[str]:
    rows = [{"file_name": f"{i}.png", "label": ["hazmat", "wrap"]} for i in range(8)]
    return _train_tags(ctx, _tagged(ctx, rows), task="image-classification")


def s_image_tags_from_class_folders(ctx: Ctx) -> list[str]:
    root = table._image_classes(ctx.tmp / "classes", {"hazmat": 4, "wrap": 4})
    return _train_tags(ctx, root)


def s_image_value_not_a_number(ctx: Ctx) -> list[str]:
    rows = [{"file_name": f"{i}.png", "label": 2.5 + i} for i in range(8)]
    rows[3]["label"] = "coarse"
    return _train_tags(ctx, _tagged(ctx, rows, "metadata.csv"), task="image-regression")


def s_image_values_from_class_folders(ctx: Ctx) -> list[str]:
    root = table._image_classes(ctx.tmp / "classes", {"fine": 4, "coarse": 4})
    return _train_tags(ctx, root, task="image-regression")


def s_image_values_with_class_weights(ctx: Ctx) -> list[str]:
    rows = [{"file_name": f"{i}.png", "label": 2.5 + i} for i in range(8)]
    data = {"builder": "image_folder", "path": str(_tagged(ctx, rows))}
    recipe = _recipe(ctx, task="image-regression", model=ctx.vit, data=data)
    return _train(ctx, recipe, "--training.class_weights=balanced")


CASES = [
    Case("image-tags-mix-lists-and-strings", s_image_tags_mix_lists_and_strings, ("'label'", "mixes lists and strings", "one form")),
    Case("image-tags-unknown-in-test", s_image_tags_unknown_in_test, ("fragile", "never in train", "add training examples")),
    Case("image-tags-blank-delimiter", s_image_tags_blank_delimiter, ("data.label_delimiter", "non-blank")),
    Case("image-label-lists-for-one-class-task", s_image_label_lists_for_one_class_task, ("0.png", "is a list", "image-multilabel")),
    Case("image-tags-from-class-folders", s_image_tags_from_class_folders, ("metadata.jsonl", "several labels per image")),
    Case("image-value-not-a-number", s_image_value_not_a_number, ("metadata.csv", "3.png", "'coarse'", "not a finite number")),
    Case("image-values-from-class-folders", s_image_values_from_class_folders, ("metadata.jsonl", "a number per image")),
    Case("image-values-with-class-weights", s_image_values_with_class_weights, ("training.class_weights", "classification")),
]  # fmt: skip


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=c.marks) for c in CASES])
def test_bad_image_tag_input_is_one_line_exit_2(
    case: Case, tmp_path, tiny_bert, tiny_vit, request, monkeypatch, capsys
):
    table.run_case(case, Ctx(tmp_path, tiny_bert, tiny_vit, request, monkeypatch), capsys)
