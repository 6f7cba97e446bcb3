"""Bad Chinese-text inputs (issue 15) through the CLI: one line, exit 2, nothing written. Same table
machinery as `tests/test_bad_inputs.py`: an undecodable file, a wrong or unknown explicit encoding (training
and predict), and the tokenizer-coverage stop of an English vocabulary on Chinese notes."""

from __future__ import annotations

import pytest

from fieldtune.datasets_builders.logistics_demand import generate
from tests import test_bad_inputs as table
from tests import test_bad_inputs_files as files
from tests.test_bad_inputs import Case, Ctx, _recipe, _train

tiny_vit, tiny_classifier = table.tiny_vit, files.tiny_classifier  # module fixtures, found by name


def _zh_orders(ctx: Ctx, saved_as: str = "gb18030", **data: object) -> dict:
    path = ctx.tmp / "orders.csv"
    path.write_bytes(generate(60, 3, "zh").to_csv(index=False).encode(saved_as))
    return {"path": str(path), "text_columns": ["note"], "label_column": "demand_level", **data}


def s_undecodable_table(ctx: Ctx) -> list[str]:
    # Shift-JIS Japanese: neither UTF-8, UTF-16, GB18030 nor Big5 decodes it
    text = "note,demand_level\n" + "至急、パレット２枚をお願いします,high\n" * 30
    (ctx.tmp / "sjis.csv").write_bytes(text.encode("shift_jis"))
    data = {"path": str(ctx.tmp / "sjis.csv"), "text_columns": ["note"], "label_column": "demand_level"}
    return _train(ctx, _recipe(ctx, data=data))


def s_wrong_given_encoding(ctx: Ctx) -> list[str]:
    return _train(ctx, _recipe(ctx, data=_zh_orders(ctx, "gb18030", encoding="utf-8")))


def s_unknown_encoding_name(ctx: Ctx) -> list[str]:
    return _train(ctx, _recipe(ctx, data=_zh_orders(ctx, encoding="gbk2000")))


def s_english_vocabulary_on_chinese(ctx: Ctx) -> list[str]:
    return _train(ctx, _recipe(ctx, data=_zh_orders(ctx, "utf-8")))


def s_predict_wrong_encoding(ctx: Ctx) -> list[str]:
    (ctx.tmp / "notes.txt").write_bytes("冷鏈貨櫃兩個，急件\n".encode("big5"))
    model = files._classifier(ctx)
    return ["predict", str(model), "--input", str(ctx.tmp / "notes.txt"), "--encoding", "utf-16"]


def s_predict_unknown_encoding(ctx: Ctx) -> list[str]:
    (ctx.tmp / "notes.txt").write_text("冷链\n", encoding="utf-8")
    model = files._classifier(ctx)
    return ["predict", str(model), "--input", str(ctx.tmp / "notes.txt"), "--encoding", "gbk2000"]


CASES = [
    Case("undecodable-table", s_undecodable_table, ("sjis.csv", "not UTF-8, UTF-16, GB18030 / GBK or Big5", "offset 18", "data.encoding")),
    Case("wrong-given-encoding", s_wrong_given_encoding, ("orders.csv", "does not decode as utf-8", "offset", "data.encoding")),
    Case("unknown-encoding-name", s_unknown_encoding_name, ("data.encoding", "gbk2000", "not an encoding")),
    Case("english-vocabulary-on-chinese", s_english_vocabulary_on_chinese, ("unknown ([UNK])", "tiny-bert", "bert-base-chinese", "data.allow_unknown_tokens")),
    Case("predict-wrong-encoding", s_predict_wrong_encoding, ("notes.txt", "does not decode as utf-16", "--encoding")),
    Case("predict-unknown-encoding", s_predict_unknown_encoding, ("--encoding", "gbk2000", "not an encoding")),
]  # fmt: skip


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=c.marks) for c in CASES])
def test_bad_chinese_input_is_one_line_exit_2(
    case: Case, tmp_path, tiny_bert, tiny_vit, request, monkeypatch, capsys
):
    table.run_case(case, Ctx(tmp_path, tiny_bert, tiny_vit, request, monkeypatch), capsys)
