"""An encoding a user names (`data.encoding`, `predict --encoding`) checked as Python's codecs take it.

`codecs.lookup` also knows bytes-to-bytes and str-to-str codecs (rot13, base64, zlib, hex, ...) and the
`undefined` codec; opening a file with one of them raises a LookupError / UnicodeError mid-read, so they are
refused up front with the text encodings to use instead.
"""

from __future__ import annotations

import codecs
from typing import Any

EXAMPLES = "utf-8, gb18030, gbk, big5, utf-16, latin-1"


def codec_problem(name: Any) -> str | None:
    """None when `name` is a text encoding Python can read files with, else what is wrong (a phrase)."""
    try:
        info = codecs.lookup(str(name))
    except (LookupError, ValueError):  # ValueError: a name with a NUL character
        return "is not an encoding Python knows"
    if not getattr(info, "_is_text_encoding", True):  # rot13, base64, zlib, ...: not for reading text
        return f"is the {info.name} codec, not a text encoding"
    try:
        "a".encode(info.name)
    except (UnicodeError, LookupError):  # `undefined`: refuses every text
        return f"is the {info.name} codec, which reads no text"
    return None
