"""Checks of values a user types that a library would reject mid-run (or silently ignore), next to their field.

- Encodings (`data.encoding`, `predict --encoding`) as Python's codecs take them: `codecs.lookup` also knows bytes-to-bytes and str-to-str codecs (rot13, base64, zlib, hex, ...) and the
`undefined` codec; opening a file with one of them raises a LookupError / UnicodeError mid-read, so they are
refused up front with the text encodings to use instead.
- `data.delimiter`: the csv module takes one character, not the quote or a line break (a TypeError otherwise).
- `data.image_size`: bounded; 20000 px decodes to 4.8 GB of float pixels per image (a MemoryError).
- `data.augment.crop_scale_min`: an area fraction; above 1 the crop was silently the whole image.
"""

from __future__ import annotations

import codecs
from typing import Any

EXAMPLES = "utf-8, gb18030, gbk, big5, utf-16, latin-1"
MAX_IMAGE_SIDE = 4096  # 4096^2 x 3 float32 = 200 MB per decoded image, far beyond any ViT / ResNet recipe


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


def delimiter_problem(v: Any) -> str | None:
    ok = v is None or (isinstance(v, str) and len(v) == 1 and v not in '"\r\n')
    return None if ok else "must be one character such as , ; | or a tab (not a quote or a line break)"


def image_side_problem(v: Any) -> str | None:
    return None if v is None or 1 <= v <= MAX_IMAGE_SIDE else f"must be from 1 to {MAX_IMAGE_SIDE} pixels"


def area_fraction_problem(v: Any) -> str | None:
    return None if v is None or 0 < v <= 1 else "must be in (0, 1]: a fraction of the image's area"
