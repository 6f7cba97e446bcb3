"""Bad image-augmentation values (`data.augment.*`) through the CLI: one line naming the key, exit 2,
nothing written, before any model loads. Same table machinery as `tests/test_bad_inputs.py`."""

from __future__ import annotations

import pytest

from tests import test_bad_inputs as table
from tests.test_bad_inputs import Case, Ctx, _text_with

tiny_vit = table.tiny_vit  # module fixture, found by name


def s_gamma_jitter_negative(ctx: Ctx) -> list[str]:
    return _text_with(ctx, "--data.augment.gamma_jitter=-0.2")


def s_random_erasing_over_one(ctx: Ctx) -> list[str]:
    return _text_with(ctx, "--data.augment.random_erasing=1.5")


def s_random_erasing_negative(ctx: Ctx) -> list[str]:
    return _text_with(ctx, "--data.augment.random_erasing=-0.25")


CASES = [
    Case("gamma-jitter-negative", s_gamma_jitter_negative, ("data.augment.gamma_jitter", "-0.2", "must be >= 0")),
    Case("random-erasing-over-one", s_random_erasing_over_one, ("data.augment.random_erasing", "1.5", "must be in [0, 1]")),
    Case("random-erasing-negative", s_random_erasing_negative, ("data.augment.random_erasing", "must be in [0, 1]")),
]  # fmt: skip


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=c.marks) for c in CASES])
def test_bad_augment_value_is_one_line_exit_2(
    case: Case, tmp_path, tiny_bert, tiny_vit, request, monkeypatch, capsys
):
    table.run_case(case, Ctx(tmp_path, tiny_bert, tiny_vit, request, monkeypatch), capsys)
