"""Bad settings of the quality methods of the training section (issue 18: label smoothing, R-Drop, Mixup /
CutMix, weight averaging) through the CLI: one line, exit 2, nothing written. Same table machinery as
`tests/test_bad_inputs.py`; what the methods do is tested in tests/test_methods.py."""

from __future__ import annotations

import pytest

from tests import test_bad_inputs as table
from tests.test_bad_inputs import Case, Ctx, _recipe, _text_with, _train

tiny_vit = table.tiny_vit  # module fixture, found by name


def _regression(ctx: Ctx, *overrides: str) -> list[str]:
    data = {**table._orders(ctx), "label_column": "demand_quantity"}
    return _train(ctx, _recipe(ctx, task="text-regression", data=data), *overrides)


def _tags(ctx: Ctx, *overrides: str) -> list[str]:
    path = ctx.tmp / "notes.jsonl"
    path.write_text('{"note": "cold boxes", "tags": ["cold"]}\n' * 12)
    data = {"path": str(path), "text_columns": ["note"], "label_column": "tags"}
    return _train(ctx, _recipe(ctx, task="text-multilabel", data=data), *overrides)


def _vit(ctx: Ctx, *overrides: str) -> list[str]:
    root = table._image_classes(ctx.tmp / "photos", {"a": 6, "b": 6})
    data = {"builder": "image_folder", "path": str(root)}
    recipe = _recipe(ctx, task="image-classification", model=ctx.vit, data=data)
    return _train(ctx, recipe, *overrides)


def _vit_r_drop(ctx: Ctx) -> list[str]:
    return _vit(ctx, "--training.r_drop=1")  # ViTConfig's dropout probabilities default to 0


CASES = [
    Case("label-smoothing-regression", lambda c: _regression(c, "--training.label_smoothing_factor=0.1"), ("training.label_smoothing_factor", "text-regression", "remove it")),
    Case("label-smoothing-one", lambda c: _text_with(c, "--training.label_smoothing_factor=1"), ("training.label_smoothing_factor", "[0, 1)")),
    Case("r-drop-tags", lambda c: _tags(c, "--training.r_drop=1"), ("training.r_drop", "text-multilabel", "only valid for one class")),
    Case("r-drop-regression", lambda c: _regression(c, "--training.r_drop=1"), ("training.r_drop", "text-regression")),
    Case("r-drop-no-dropout", lambda c: _text_with(c, "--training.r_drop=1", "--model.dropout=0"), ("training.r_drop", "model.dropout: 0", "> 0")),
    Case("r-drop-model-without-dropout", _vit_r_drop, ("training.r_drop", "tiny-vit", "no dropout", "model.dropout")),
    Case("r-drop-negative", lambda c: _text_with(c, "--training.r_drop=-1"), ("training.r_drop", ">= 0")),
    Case("mixup-text", lambda c: _text_with(c, "--training.mixup_alpha=0.2"), ("training.mixup_alpha", "text-classification", "no images", "remove it")),
    Case("cutmix-negative", lambda c: _vit(c, "--training.cutmix_alpha=-1"), ("training.cutmix_alpha", ">= 0")),
    Case("cutmix-cached-probe", lambda c: _vit(c, "--method.name=probe", "--training.cutmix_alpha=1"), ("training.cutmix_alpha", "cached", "method.feature_cache: false")),
    Case("averaging-no-start", lambda c: _text_with(c, "--training.weight_averaging.every_steps=10"), ("training.weight_averaging", "no `start`", "0.75")),
    Case("averaging-start-one", lambda c: _text_with(c, "--training.weight_averaging.start=1"), ("training.weight_averaging.start", "[0, 1)")),
    Case("averaging-ema-decay-one", lambda c: _text_with(c, "--training.weight_averaging.start=0.5", "--training.weight_averaging.ema_decay=1"), ("training.weight_averaging.ema_decay", "[0, 1)")),
    Case("pooling-image", lambda c: _vit(c, "--model.pooling=mean"), ("model.pooling: mean", "image-classification", "own head", "remove it")),
    Case("pooling-unknown", lambda c: _text_with(c, "--model.pooling=max"), ("model.pooling", "'max'", "auto, cls, mean")),
    Case("averaging-not-a-mapping", lambda c: _text_with(c, "--training.weight_averaging=0.75"), ("training.weight_averaging", "mapping")),
]  # fmt: skip


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=c.marks) for c in CASES])
def test_bad_method_setting_is_one_line_exit_2(
    case: Case, tmp_path, tiny_bert, tiny_vit, request, monkeypatch, capsys
):
    table.run_case(case, Ctx(tmp_path, tiny_bert, tiny_vit, request, monkeypatch), capsys)
