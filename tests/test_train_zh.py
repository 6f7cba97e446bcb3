"""Chinese text end to end (issue 15): the Chinese synthetic notes on a tiny character-level BERT, trained,
evaluated and predicted on through the CLI; encodings, normalisation and coverage recorded; CJK plots."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from fieldtune.cli import main
from fieldtune.datasets_builders.logistics_demand import generate
from fieldtune.datasets_builders.normalize import normalize_texts
from fieldtune.inputs.coverage import measure_coverage
from tests import hub_fixtures

LEVELS = {"低", "中", "高"}
hub_env, hub_server = hub_fixtures.hub_env, hub_fixtures.hub_server


@pytest.fixture(scope="module")
def zh_run(tiny_cjk_bert: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One short training run on the Chinese notes, read from a GB18030 file (as Excel saves it)."""
    tmp = tmp_path_factory.mktemp("zh")
    notes = tmp / "订单.csv"
    notes.write_bytes(generate(150, 2, "zh").to_csv(index=False).encode("gb18030"))
    recipe = tmp / "recipe.yaml"
    tree = {
        "task": "text-classification",
        "model": {"name_or_path": str(tiny_cjk_bert), "max_length": 64},
        "data": {"path": str(notes), "text_columns": ["note"], "label_column": "demand_level"},
        "training": {"num_train_epochs": 2, "per_device_train_batch_size": 16, "learning_rate": 1e-3},
    }
    recipe.write_text(yaml.safe_dump(tree, allow_unicode=True), encoding="utf-8")
    assert main(["train", str(recipe), "--output-dir", str(tmp / "run")]) == 0
    return tmp / "run"


@pytest.mark.slow
def test_chinese_run_records_encoding_normalisation_and_coverage(zh_run: Path) -> None:
    raw = (zh_run / "eval_results.json").read_text(encoding="utf-8")
    results = json.loads(raw)
    assert list(results["encodings"].values()) == ["gb18030"]
    norm = results["normalization"]
    assert norm["mode"] == "nfkc" and norm["setting"] == "auto" and norm["full_width"] > 0
    cov = results["tokenizer_coverage"]
    assert cov["unknown_rate"] < 0.01 and cov["truncated_share"] == 0.0 and cov["max_length"] == 64
    assert "example" not in cov  # no training text in results that get pushed
    assert set(results["metrics"]["per_class"]) == LEVELS and "\\u" not in raw  # real characters
    preds = pd.read_csv(zh_run / "predictions.csv", encoding="utf-8")
    assert set(preds["label"]) <= LEVELS and preds["text"].str.contains("托盘|集装箱|整车|箱").any()
    assert "２" not in "".join(preds["text"])  # the test split's texts as the model saw them: NFKC
    card = (zh_run / "README.md").read_text(encoding="utf-8")
    assert "Tokenizer coverage on" in card and "gb18030" in card and "低" in card
    config = json.loads((zh_run / "model" / "config.json").read_text())
    assert config["fieldtune_normalize"] == "nfkc"  # predict normalises as training did
    assert "订单.csv" in (zh_run / "config.yaml").read_text(
        encoding="utf-8"
    )  # the path as written, no escapes
    assert (zh_run / "plots" / "confusion_matrix.png").stat().st_size > 0


@pytest.mark.slow
def test_evaluate_and_predict_on_chinese_files(zh_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval.json"
    assert main(["evaluate", str(zh_run), "--output", str(out)]) == 0
    accuracy = json.loads((zh_run / "eval_results.json").read_text())["metrics"]["accuracy"]
    assert json.loads(out.read_text(encoding="utf-8"))["metrics"]["accuracy"] == pytest.approx(accuracy)
    # the same notes typed with full-width and ASCII digits, in a Big5 file: the same predictions
    notes = ["冷鏈貨櫃２個，急件", "冷鏈貨櫃2個,急件", "台北倉庫補貨１０箱　不急", "台北倉庫補貨10箱 不急"]
    (tmp_path / "notes.txt").write_bytes("\n".join(notes).encode("big5"))
    assert main(["predict", str(zh_run), "--input", str(tmp_path / "notes.txt"),
                 "--output", str(tmp_path / "p.jsonl")]) == 0  # fmt: skip
    text = (tmp_path / "p.jsonl").read_text(encoding="utf-8")
    assert "\\u" not in text
    rows = [json.loads(line) for line in text.splitlines()]
    assert [r["text"] for r in rows] == notes and {r["label"] for r in rows} <= LEVELS
    assert rows[0]["score"] == pytest.approx(rows[1]["score"]) and rows[0]["label"] == rows[1]["label"]
    assert rows[2]["score"] == pytest.approx(rows[3]["score"]) and rows[2]["label"] == rows[3]["label"]


def test_coverage_fails_an_english_vocabulary_and_passes_a_cjk_one(tiny_bert, tiny_cjk_bert) -> None:
    from transformers import AutoTokenizer

    texts, _ = normalize_texts(list(generate(80, 4, "zh")["note"]), "nfkc")  # as training reads them
    english = measure_coverage(AutoTokenizer.from_pretrained(tiny_bert), texts, 64)
    chinese = measure_coverage(AutoTokenizer.from_pretrained(tiny_cjk_bert), texts, 64)
    assert english["unknown_rate"] > 0.5 and english["example"] in texts
    assert chinese["unknown_rate"] == 0.0 and chinese["example"] is None
    assert AutoTokenizer.from_pretrained(tiny_cjk_bert).tokenize("冷链托盘")[:2] == ["冷", "链"]


def test_allow_unknown_tokens_turns_the_stop_into_a_warning(tiny_bert, caplog) -> None:
    from transformers import AutoTokenizer

    from fieldtune.config import DataConfig
    from fieldtune.errors import ModelError
    from fieldtune.inputs.coverage import check_coverage

    tok, texts = AutoTokenizer.from_pretrained(tiny_bert), list(generate(40, 4, "zh")["note"])
    with pytest.raises(ModelError, match="unknown"):
        check_coverage(tok, texts, 64, DataConfig(), "english-bert")
    with caplog.at_level(logging.WARNING):
        found = check_coverage(tok, texts, 64, DataConfig(allow_unknown_tokens=True), "english-bert")
    assert found["unknown_rate"] > 0.5 and "english-bert" in caplog.text
    assert check_coverage(tok, texts, 64, DataConfig(max_unknown_rate=1.0), "english-bert")["unknown_rate"]


def test_generator_is_deterministic_and_learnable_from_the_text() -> None:
    a, b = generate(200, 7, "zh"), generate(200, 7, "zh")
    assert a.equals(b) and not a.equals(generate(200, 8, "zh"))
    assert set(a["demand_level"]) == LEVELS
    digits = a["note"][a["note"].str.contains("[0-9０-９]")]
    assert len(digits) > 50 and digits.str.contains("[０-９]").mean() > 0.2  # as Chinese IMEs type them
    for phrase in ("集装箱", "托盘", "加急"):
        assert a["note"].str.contains(phrase).any()
    # the volume phrase alone orders the levels: containers are high, a few loose boxes low
    assert (a[a["note"].str.contains("好几个集装箱")]["demand_level"] != "低").all()
    assert (a[a["note"].str.contains("几箱零散货")]["demand_level"] != "高").all()


def test_data_command_writes_chinese_notes(tmp_path: Path, capsys) -> None:
    out = tmp_path / "zh.csv"
    assert (
        main(["data", "logistics_demand", "--out", str(out), "--num-samples", "20", "--language", "zh"]) == 0
    )
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # a BOM: Excel opens it as UTF-8
    df = pd.read_csv(out, encoding="utf-8-sig")
    assert len(df) == 20 and set(df["demand_level"]) <= LEVELS


def _tick_fonts(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Spy on the plot writer: each x tick label's text -> the font file matplotlib draws it with."""
    from matplotlib import font_manager

    from fieldtune.rundir import plots

    seen: dict[str, str] = {}
    real = plots._save

    def spy(fig, path):
        for t in fig.axes[0].get_xticklabels():
            seen[t.get_text()] = font_manager.findfont(t.get_fontproperties(), fallback_to_default=False)
        return real(fig, path)

    monkeypatch.setattr(plots, "_save", spy)
    return seen


def test_confusion_matrix_with_chinese_labels_uses_a_font_with_their_glyphs(tmp_path, monkeypatch) -> None:
    from matplotlib.ft2font import FT2Font

    from fieldtune.rundir.fonts import font_covering
    from fieldtune.rundir.plots import plot_confusion_matrix

    if font_covering("低中高") is None:
        pytest.skip("no CJK font on this machine (scripts/test.sh installs fonts-wqy-microhei)")
    seen = _tick_fonts(monkeypatch)
    plot_confusion_matrix([0, 1, 2, 0], [0, 2, 1, 0], ["低", "中", "高"], tmp_path / "cm.png")
    assert set(seen) == {"低", "中", "高"} and (tmp_path / "cm.png").stat().st_size > 0
    for text, font in seen.items():
        assert ord(text) in FT2Font(font).get_charmap(), (text, font)


def test_without_a_cjk_font_plots_are_written_with_one_warning(tmp_path, monkeypatch, caplog) -> None:
    import warnings

    from fieldtune.rundir import fonts
    from fieldtune.rundir.plots import plot_confusion_matrix

    monkeypatch.setattr(fonts, "font_covering", lambda chars: None)
    fonts._warn_no_font.cache_clear()
    seen = _tick_fonts(monkeypatch)
    with caplog.at_level(logging.WARNING), warnings.catch_warnings():
        warnings.simplefilter("error")  # no per-glyph "missing from font" warning escapes
        plot_confusion_matrix([0, 1], [1, 1], ["冷链", "普通"], tmp_path / "cm.png")
    assert (tmp_path / "cm.png").stat().st_size > 0 and "DejaVu" in next(iter(seen.values()))
    assert caplog.text.count("fonts-noto-cjk") == 1


@pytest.mark.slow
def test_leaderboard_of_a_chinese_run_keeps_its_names(zh_run: Path, tmp_path: Path, monkeypatch) -> None:
    """The run's dataset is named after its file, 订单.csv: the board says 订单 in every format."""
    from matplotlib.font_manager import findfont

    from fieldtune.rundir import fonts

    used: list[str | None] = []
    real = fonts.fonts_for

    def spy(texts):  # which font the PNG's headings and run names get
        texts = list(texts)
        used.append(fonts.font_covering(fonts.cjk_chars(texts)) if fonts.cjk_chars(texts) else None)
        return real(texts)

    monkeypatch.setattr(fonts, "fonts_for", spy)
    out = tmp_path / "board"
    assert main(["leaderboard", str(zh_run), "--output", str(out)]) == 0
    for name in ("leaderboard.csv", "leaderboard.md", "leaderboard.html"):
        assert "订单" in (out / name).read_text(encoding="utf-8"), name
    assert (out / "leaderboard.png").stat().st_size > 0
    if fonts.font_covering("订单") is not None:  # a CJK font drew the heading (not DejaVu's boxes)
        assert used and used[-1] and "DejaVu" not in findfont(used[-1])


@pytest.mark.slow
def test_push_and_pull_a_chinese_run(zh_run: Path, hub_env, tmp_path: Path) -> None:
    """The card, results and model reach the Hub with their characters; the pulled model normalises too."""
    from huggingface_hub import ModelCard

    from fieldtune.inference.load import load_for_inference, predict_logits, text_batches
    from tests.hub_server import USER

    repo = f"{USER}/demand-zh-{tmp_path.name[-6:]}"
    assert main(["push", str(zh_run), "--repo-id", repo]) == 0
    assert main(["pull", repo, "--out", str(tmp_path / "pulled")]) == 0
    pulled = tmp_path / "pulled"
    assert (pulled / "README.md").read_bytes() == (zh_run / "README.md").read_bytes()
    card = ModelCard.load(pulled / "README.md")
    assert "低" in card.text and "Tokenizer coverage on" in card.text
    assert (
        json.loads((pulled / "eval_results.json").read_text(encoding="utf-8"))["normalization"]["mode"]
        == "nfkc"
    )
    remote = load_for_inference(repo)
    notes = ["冷链集装箱２个", "冷链集装箱2个"]
    (batch,) = list(text_batches(remote, notes))
    # full-width digits normalised by the pulled model's setting: the two notes are the same tokens
    assert batch["input_ids"][0].tolist() == batch["input_ids"][1].tolist()
    logits = predict_logits(remote, text_batches(remote, notes))
    np.testing.assert_allclose(logits[0], logits[1], atol=1e-6)  # rows of one batch: not always bit-equal


def test_card_says_which_languages_the_model_was_trained_on(zh_run: Path) -> None:
    from huggingface_hub import ModelCard

    scripts = json.loads((zh_run / "eval_results.json").read_text(encoding="utf-8"))["tokenizer_coverage"][
        "scripts"
    ]
    assert next(iter(scripts)) == "Han" and scripts["Han"] > 0.5  # the Chinese notes: Han script first
    card = ModelCard.load(zh_run / "README.md")
    assert card.data.language == ["zh"]
    assert "Languages: the training texts are written in Han" in card.text


def test_script_shares_name_the_writing_systems():
    from fieldtune.inputs.coverage import script_shares

    assert script_shares(["冷链 pallets", "加急"]) == {"Latin": 0.636, "Han": 0.364}  # 7 and 4 letters
    assert script_shares(["ショッピング 東京", "서울"]).keys() == {"Kana", "Han", "Hangul"}
    assert script_shares(["1234 !?"]) == {}
