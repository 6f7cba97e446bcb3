"""A tiny Chinese BERT for the tests: characters split one by one, as bert-base-chinese's tokenizer does."""

from __future__ import annotations

import unicodedata
from pathlib import Path

from fieldtune.datasets_builders.logistics_demand import generate
from tests.helpers import SPECIAL, save_tiny_bert

HS_GOODS = {  # Chinese goods descriptions per HS section, for `make_hs_table_zh`
    "I": ["活马", "活牛", "冻鱼片", "鲜奶"],
    "II": ["鲜番茄", "稻谷", "小麦粉", "生咖啡豆"],
    "XV": ["钢条", "铜线", "铝板", "铁钉"],
}


def make_tiny_cjk_bert(folder: Path) -> Path:
    """A random 2-layer `BertModel` and a WordPiece vocabulary of the Chinese generator's characters (after
    NFKC, so full-width digits are not in it) plus ASCII letters, digits and punctuation."""
    chars: set[str] = set()
    for note in generate(300, 1, "zh")["note"]:
        chars.update(ch for ch in unicodedata.normalize("NFKC", note).lower() if not ch.isspace())
    chars.update("".join(g for goods in HS_GOODS.values() for g in goods) + "全部等级")
    chars.update("abcdefghijklmnopqrstuvwxyz0123456789.,;:-()")
    vocab = SPECIAL + sorted(chars) + ["##" + c for c in "abcdefghijklmnopqrstuvwxyz0123456789"]
    # tokenize_chinese_chars: every CJK ideograph is its own word (BERT's Chinese models), so WordPiece
    # finds each character in the vocabulary
    return save_tiny_bert(folder, vocab, tokenize_chinese_chars=True)


def make_hs_table_zh(folder: Path) -> Path:
    """A small harmonized-system table with Chinese descriptions, saved as GB18030 (as Excel on a Chinese
    Windows saves a CSV)."""
    import pandas as pd

    rows = [{"section": "TOTAL", "hscode": "TOTAL", "description": "全部", "parent": "", "level": "0"}]
    for s, (section, items) in enumerate(HS_GOODS.items()):
        for i in range(12):
            code = f"{s:02d}{i % 4:02d}{i:02d}"
            rows.append(
                {"section": section, "hscode": code, "description": f"{items[i % 4]}，等级{i}",
                 "parent": code[:4], "level": "6"}
            )  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    text = pd.DataFrame(rows).to_csv(index=False)
    (folder / "harmonized-system.csv").write_bytes(text.encode("gb18030"))
    return folder
