"""Tokenizer coverage of the texts a trained model is given: `predict` and `evaluate` measure them as training
measures its texts (`fieldtune.inputs.coverage`) and warn in one line; a warning, never an error."""

from __future__ import annotations

import logging
from pathlib import Path

from fieldtune.cli import main
from fieldtune.datasets_builders.logistics_demand import generate
from tests.test_bad_inputs_files import tiny_classifier  # noqa: F401  (module fixture, found by name)

CHINESE = "冷链货柜两个，急件"  # the tiny English vocabulary reads every character as [UNK]
LONG = " ".join(["two pallets of water"] * 40)  # 160 words: over the tiny tokenizer's 64 tokens


def _coverage_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("Tokenizer coverage")]


def test_predict_warns_once_when_the_tokenizer_cannot_read_the_texts(tiny_classifier, caplog, capsys):  # noqa: F811
    with caplog.at_level(logging.WARNING):
        assert main(["predict", str(tiny_classifier), "--text", CHINESE]) == 0
    (warning,) = _coverage_warnings(caplog)
    assert "\n" not in warning
    assert "100% of the tokens of 1 texts are unknown ([UNK])" in warning and str(tiny_classifier) in warning
    assert CHINESE in capsys.readouterr().out  # predicted all the same


def test_predict_warns_about_truncated_texts(tiny_classifier, tmp_path: Path, caplog):  # noqa: F811
    notes = tmp_path / "notes.txt"
    notes.write_text(f"{LONG}\ntwo pallets of water\n{LONG}\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        code = main(
            ["predict", str(tiny_classifier), "--input", str(notes), "--output", str(tmp_path / "p.csv")]
        )
    assert code == 0
    (warning,) = _coverage_warnings(caplog)
    assert "2 of 3 texts were longer than 64 tokens and were truncated" in warning
    assert "unknown" not in warning


def test_evaluate_warns_when_the_tokenizer_cannot_read_the_data(tiny_classifier, tmp_path: Path, caplog):  # noqa: F811
    data = tmp_path / "orders_zh.csv"
    frame = generate(30, 4, "zh")
    frame["demand_level"] = frame["demand_level"].map({"低": "low", "中": "medium", "高": "high"})
    frame.to_csv(data, index=False)
    argv = ["evaluate", str(tiny_classifier), "--data", str(data), "--split", "all"]
    with caplog.at_level(logging.WARNING):
        assert main([*argv, "--text-column", "note", "--label-column", "demand_level"]) == 0
    (warning,) = _coverage_warnings(caplog)
    assert "of the tokens of 30 texts are unknown ([UNK])" in warning


def test_readable_short_texts_give_no_warning(tiny_classifier, caplog):  # noqa: F811
    with caplog.at_level(logging.WARNING):
        assert main(["predict", str(tiny_classifier), "--text", "two pallets of water, urgent"]) == 0
    assert _coverage_warnings(caplog) == []
