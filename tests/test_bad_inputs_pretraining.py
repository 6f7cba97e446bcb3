"""Bad settings of the masked-LM pretraining phase (`pretraining:`, issue 35) through the CLI: one line,
exit 2, nothing written. Same table machinery as `tests/test_bad_inputs.py`; what the phase does is tested
in tests/test_pretraining.py."""

from __future__ import annotations

import pytest

from tests import test_bad_inputs as table
from tests.test_bad_inputs import Case, Ctx, _text_with
from tests.test_bad_inputs_methods import _vit

tiny_vit = table.tiny_vit  # module fixture, found by name


def _extra(ctx: Ctx, name: str, content: str | None, *overrides: str) -> list[str]:
    """The default text recipe, one pretraining epoch on `name` (written with `content` unless None)."""
    path = ctx.tmp / name
    if content is not None:
        path.write_text(content, encoding="utf-8")
    return _text_with(ctx, "--pretraining.epochs=1", f"--pretraining.extra_texts={path}", *overrides)


def _extra_only_test_texts(ctx: Ctx) -> list[str]:
    """Extra texts that are all test rows of the run (the generated orders split as the run splits them)."""
    import pandas as pd

    from fieldtune.config import data_config_from_dict
    from fieldtune.datasets_builders import build_dataset

    data = table._orders(ctx)
    dd = build_dataset(data_config_from_dict(data), "text-classification")
    test = sorted(set(dd["test"]["text"]) - set(dd["train"]["text"]) - set(dd["validation"]["text"]))
    pd.DataFrame({"note": test}).to_csv(ctx.tmp / "test_rows.csv", index=False)
    return _text_with(ctx, "--pretraining.epochs=1", f"--pretraining.extra_texts={ctx.tmp / 'test_rows.csv'}")


CASES = [
    Case("pretraining-image", lambda c: _vit(c, "--pretraining.epochs=1"), ("pretraining.epochs", "image-classification", "set it to 0")),
    Case("pretraining-baseline-method", lambda c: _text_with(c, "--method.name=baseline", "--pretraining.epochs=1"), ("pretraining.epochs", "method.name: baseline", "set it to 0")),
    Case("pretraining-epochs-negative", lambda c: _text_with(c, "--pretraining.epochs=-1"), ("pretraining.epochs", ">= 0")),
    Case("mlm-probability-zero", lambda c: _text_with(c, "--pretraining.epochs=1", "--pretraining.mlm_probability=0"), ("pretraining.mlm_probability", "(0, 1)")),
    Case("mlm-probability-one", lambda c: _text_with(c, "--pretraining.epochs=1", "--pretraining.mlm_probability=1"), ("pretraining.mlm_probability", "(0, 1)")),
    Case("mlm-probability-above-one", lambda c: _text_with(c, "--pretraining.mlm_probability=1.5"), ("pretraining.mlm_probability", "1.5", "(0, 1)")),
    Case("extra-texts-without-epochs", lambda c: _text_with(c, "--pretraining.extra_texts=headings.txt"), ("pretraining.extra_texts", "pretraining.epochs", "remove it")),
    Case("extra-texts-missing", lambda c: _extra(c, "headings.txt", None), ("pretraining.extra_texts", "headings.txt", "does not exist")),
    Case("extra-texts-empty", lambda c: _extra(c, "headings.txt", ""), ("pretraining.extra_texts", "headings.txt", "holds no text")),
    Case("extra-texts-blank-lines", lambda c: _extra(c, "headings.txt", "\n   \n\n"), ("pretraining.extra_texts", "headings.txt", "holds no text")),
    Case("extra-texts-folder", lambda c: _extra(c, "", None), ("pretraining.extra_texts", "is a folder")),
    Case("extra-texts-unsupported-type", lambda c: _extra(c, "headings.xlsx", "x"), ("pretraining.extra_texts", "headings.xlsx", ".txt")),
    Case("extra-texts-which-column", lambda c: _extra(c, "headings.csv", "code,heading\n01,live animals\n"), ("pretraining.extra_texts", "headings.csv", "code, heading", "pretraining.extra_texts_column")),
    Case("extra-texts-column-missing", lambda c: _extra(c, "headings.csv", "code,heading\n01,live animals\n", "--pretraining.extra_texts_column=title"), ("headings.csv", "'title'", "pretraining.extra_texts_column", "code, heading")),
    Case("extra-texts-all-test-rows", _extra_only_test_texts, ("pretraining.extra_texts", "test_rows.csv", "validation or test text")),
]  # fmt: skip


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=c.marks) for c in CASES])
def test_bad_pretraining_setting_is_one_line_exit_2(
    case: Case, tmp_path, tiny_bert, tiny_vit, request, monkeypatch, capsys
):
    table.run_case(case, Ctx(tmp_path, tiny_bert, tiny_vit, request, monkeypatch), capsys)
