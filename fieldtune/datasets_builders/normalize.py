"""Text normalisation (`data.normalize`): Unicode NFKC and removal of control characters, with counts.

Chinese text typed on a Chinese input method mixes full-width digits, letters and punctuation
(`２０托盘`, `ＡＢＣ`, `，`) and ideographic spaces (U+3000) with their ASCII forms; a tokenizer sees `２`
and `2` as different tokens (or `２` as unknown). NFKC maps the compatibility forms to the plain ones.
Pasted text also carries control and zero-width characters (U+200B, a stray BOM) that only add noise.

Modes: `nfkc` (NFKC + those characters removed), `none` (as read), `auto`: `nfkc` when the training texts
hold CJK or full-width characters (where the forms occur; English text has none to change, so `auto` leaves
it alone), else `none`. The resolved mode is saved in the model's config (`fieldtune_normalize`) and
`fieldtune predict` / `evaluate` apply it to their inputs, so a model sees the same text at both ends.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence

MODES = ("auto", "nfkc", "none")
CONFIG_KEY = "fieldtune_normalize"  # in the saved model's config.json
# CJK punctuation, kana, CJK ideographs (with extension A and the compatibility block), Hangul, full-width
# and half-width forms
_CJK = re.compile("[\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]")
_KEEP_CONTROLS = {"\t", "\n", "\r"}
AUTO_SAMPLE = 2000  # training texts `auto` looks at


def _is_dropped(ch: str) -> bool:
    """Control (Cc, other than tab / newline) and format (Cf: zero-width space, BOM, soft hyphen) characters."""
    cat = unicodedata.category(ch)
    return (cat == "Cc" and ch not in _KEEP_CONTROLS) or cat == "Cf"


def has_cjk(texts: Sequence[str]) -> bool:
    return any(_CJK.search(t) for t in texts[:AUTO_SAMPLE])


def resolve_mode(mode: str, texts: Sequence[str]) -> str:
    """`auto` -> `nfkc` or `none` from the (training) texts; the other modes as given."""
    if mode == "auto":
        return "nfkc" if has_cjk(texts) else "none"
    return mode


def normalize_text(text: str, mode: str) -> str:
    """One text in a resolved mode (`nfkc` or `none`)."""
    if mode != "nfkc":
        return text
    text = unicodedata.normalize("NFKC", text)
    if any(_is_dropped(ch) for ch in text):
        text = "".join(ch for ch in text if not _is_dropped(ch))
    return text


def _changes(before: str) -> Counter:
    """What NFKC + the removal changed in one text, by kind (only called for a text that changed)."""
    counts: Counter = Counter()
    for ch in before:
        if _is_dropped(ch):
            counts["control_removed"] += 1
        elif ch == "\u3000":
            counts["ideographic_spaces"] += 1
        elif "\uff01" <= ch <= "\uff5e":  # full-width ASCII: digits, letters, punctuation
            counts["full_width"] += 1
        elif unicodedata.normalize("NFKC", ch) != ch:
            counts["other_compatibility"] += 1
    return counts


def normalize_texts(texts: Sequence[str], mode: str) -> tuple[list[str], dict[str, int]]:
    """Texts in a resolved mode, and counts: texts changed, characters by kind of change."""
    if mode != "nfkc":
        return list(texts), {"texts_changed": 0}
    out, counts = [], Counter()
    for text in texts:
        new = normalize_text(text, mode)
        if new != text:
            counts["texts_changed"] += 1
            counts.update(_changes(text))
        out.append(new)
    return out, {"texts_changed": 0, **counts}
