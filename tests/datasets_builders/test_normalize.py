"""`data.normalize` (issue 15, item 4): what NFKC changes, counted by kind; `auto` by the texts' script."""

from __future__ import annotations

from fieldtune.datasets_builders.normalize import normalize_text, normalize_texts, resolve_mode


def test_nfkc_maps_full_width_forms_and_counts_each_kind() -> None:
    texts = ["２０个托盘，ＬＥＤ灯泡", "冷链\u3000加急\u200b", "plain text", "tab\tand\x07bell"]
    out, counts = normalize_texts(texts, "nfkc")
    assert out == ["20个托盘,LED灯泡", "冷链 加急", "plain text", "tab\tandbell"]
    assert counts == {
        "texts_changed": 3,
        "full_width": 6,  # ２ ０ ， Ｌ Ｅ Ｄ
        "ideographic_spaces": 1,
        "control_removed": 2,  # the zero-width space and the bell; the tab stays
    }
    assert normalize_text(out[0], "nfkc") == out[0]  # idempotent: predict may see already-normal text


def test_none_leaves_text_alone_and_auto_follows_the_script() -> None:
    assert normalize_texts(["２０个"], "none") == (["２０个"], {"texts_changed": 0})
    assert resolve_mode("auto", ["a few boxes", "冷链运输"]) == "nfkc"
    assert resolve_mode("auto", ["ＡＢＣ order"]) == "nfkc"  # full-width Latin alone is enough
    assert resolve_mode("auto", ["a few boxes", "two pallets"]) == "none"
    assert resolve_mode("nfkc", ["plain"]) == "nfkc"
