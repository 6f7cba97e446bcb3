"""Bad `ensemble:` inputs through the CLI: one line, exit 2, nothing written (the table machinery of
`tests/test_bad_inputs.py`)."""

from __future__ import annotations

import pandas as pd
import pytest

from tests import test_bad_inputs as table
from tests.helpers import write_demand_csv
from tests.test_bad_inputs import Case, Ctx, _orders_frame, _recipe, _split_files, _text_with, _train


def s_weight_one(ctx: Ctx) -> list[str]:
    return _text_with(ctx, "--ensemble.baseline_weight=1")


def s_weight_negative(ctx: Ctx) -> list[str]:
    return _text_with(ctx, "--ensemble.baseline_weight=-0.2")


def s_unknown_key(ctx: Ctx) -> list[str]:
    return _text_with(ctx, "--ensemble.baseline_wieght=0.5")


def s_regression(ctx: Ctx) -> list[str]:
    data = {"path": str(write_demand_csv(ctx.tmp / "orders.csv")), "text_columns": ["note"],
            "label_column": "demand_quantity"}  # fmt: skip
    return _train(ctx, _recipe(ctx, task="text-regression", data=data), "--ensemble.baseline_weight=0.5")


def s_class_with_one_row(ctx: Ctx) -> list[str]:
    df = _orders_frame(90)
    train = pd.concat([df.iloc[:60], df.iloc[[0]].assign(demand_level="rare")])  # one row of `rare`
    data = _split_files(ctx, train, df.iloc[60:75], df.iloc[75:])
    return _train(ctx, _recipe(ctx, data=data), "--ensemble.baseline_weight=0.5")


def s_chinese_on_english_vocabulary(ctx: Ctx) -> list[str]:
    """Both the calibration check (a class with one row) and the coverage check would stop this run: the
    one saying the model cannot read the data at all must come first (issue 29)."""
    from fieldtune.datasets_builders.logistics_demand import generate

    df = generate(90, 3, "zh")
    train = pd.concat([df.iloc[:60], df.iloc[[0]].assign(demand_level="罕见")])
    data = _split_files(ctx, train, df.iloc[60:75], df.iloc[75:])
    return _train(ctx, _recipe(ctx, data=data), "--ensemble.baseline_weight=0.5")


def s_auto_without_validation(ctx: Ctx) -> list[str]:
    return _text_with(ctx, "--ensemble.baseline_weight=auto", "--data.validation_size=0")


def s_weight_word(ctx: Ctx) -> list[str]:
    return _text_with(ctx, "--ensemble.baseline_weight=best")


def s_choose_by_fixed_weight(ctx: Ctx) -> list[str]:
    return _text_with(ctx, "--ensemble.baseline_weight=0.5", "--ensemble.choose_by=log_loss")


def s_choose_by_unknown(ctx: Ctx) -> list[str]:
    return _text_with(ctx, "--ensemble.baseline_weight=auto", "--ensemble.choose_by=brier")


CASES = [
    Case("ensemble-weight-one", s_weight_one, ("ensemble.baseline_weight", "[0, 1)")),
    Case("ensemble-weight-negative", s_weight_negative, ("ensemble.baseline_weight", "[0, 1)")),
    Case("ensemble-unknown-key", s_unknown_key, ("ensemble.baseline_wieght", "baseline_weight")),
    Case("ensemble-regression", s_regression, ("ensemble.baseline_weight", "text-regression", "set it to 0")),
    Case("ensemble-class-with-one-row", s_class_with_one_row, ("ensemble.baseline_weight", "class 'rare'", "1 training row", "logistic_regression")),
    Case("ensemble-chinese-on-english-vocabulary", s_chinese_on_english_vocabulary, ("unknown ([UNK])", "tiny-bert", "data.allow_unknown_tokens")),
    Case("ensemble-auto-without-validation", s_auto_without_validation, ("baseline_weight: auto", "validation split", "data.validation_size")),
    Case("ensemble-weight-word", s_weight_word, ("ensemble.baseline_weight", "'best'", "auto")),
    Case("ensemble-choose-by-fixed-weight", s_choose_by_fixed_weight, ("ensemble.choose_by: log_loss", "baseline_weight: auto", "0.5")),
    Case("ensemble-choose-by-unknown", s_choose_by_unknown, ("ensemble.choose_by", "'brier'", "log_loss")),
]  # fmt: skip


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=c.marks) for c in CASES])
def test_bad_ensemble_input_is_one_line_exit_2(
    case: Case, tmp_path, tiny_bert, request, monkeypatch, capsys
):  # image tasks are refused by the same rule as regression (no TF-IDF pair): no tiny ViT needed here
    table.run_case(case, Ctx(tmp_path, tiny_bert, None, request, monkeypatch), capsys)
