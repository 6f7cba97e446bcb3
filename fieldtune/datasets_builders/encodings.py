"""Text file encodings: detect one (UTF-8 with or without BOM, UTF-16, GB18030 / GBK, Big5) or use the one
given, decode with it, and say in one line where a file is not text in any of them.

Excel on a Chinese Windows saves "CSV" as GBK (mainland) or Big5 (Taiwan, Hong Kong), and "Unicode text"
as UTF-16; these are what users hand over. The training tables (`data.encoding`) and `fieldtune predict`
inputs (`--encoding`) go through the same functions:

```python
from fieldtune.datasets_builders.encodings import detect, decode, open_text

encoding = detect(path)             # "utf-8", "gb18030", ... (reads a prefix of the file)
text = decode(path.read_bytes(), path).text   # detect + decode, or decode(raw, path, "big5")
with open_text(path, encoding) as f:          # a chunked reader: a text stream in that encoding
    ...
```
"""

from __future__ import annotations

import codecs
import io
import logging
from dataclasses import dataclass
from pathlib import Path

from fieldtune.errors import DataError

logger = logging.getLogger(__name__)

# What detection chooses among after the BOMs and strict UTF-8 (charset-normalizer's codec names). GB18030
# is a superset of GBK and GB2312, so a GBK file is read as GB18030 and gives the same text.
DETECTED = ["gb18030", "big5", "utf_16_le", "utf_16_be"]
BOMS = (  # longest first: the UTF-32-LE BOM starts with the UTF-16-LE one
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
DETECT_SAMPLE = 4 << 20  # bytes `detect(path)` reads: enough to tell, bounded for a large predict input
SUPPORTED_TEXT = "UTF-8, UTF-16, GB18030 / GBK or Big5"


@dataclass(frozen=True)
class Decoded:
    text: str
    encoding: str  # the codec used, as Python names it
    detected: bool  # False: given by the user


def _bom(raw: bytes) -> str | None:
    return next((name for bom, name in BOMS if raw.startswith(bom)), None)


def _wide_by_nuls(raw: bytes) -> str | None:
    """UTF-16 / UTF-32 without a BOM told by their NUL bytes: Latin text (and the digits, commas and line
    breaks of any table) has zero high bytes, on the odd offsets in UTF-16-LE, the even ones in BE; UTF-32
    has two zero bytes per character at least (BMP). A stray NUL in a UTF-8 file is no pattern."""
    even, odd = raw[0::2].count(0), raw[1::2].count(0)
    for nuls, other, name in ((odd, even, "utf-16-le"), (even, odd, "utf-16-be")):
        if nuls * 4 >= len(raw) // 2 > 0 and other * 20 <= nuls:
            return name
    cells = len(raw) // 4
    at = [raw[i : cells * 4 : 4].count(0) for i in range(4)]  # NULs at each offset of the 4-byte units
    if cells and at[3] == at[2] == cells and at[0] * 20 <= cells:
        return "utf-32-le"
    if cells and at[0] == at[1] == cells and at[3] * 20 <= cells:
        return "utf-32-be"
    return None


def _utf8_error(raw: bytes, partial: bool) -> UnicodeDecodeError | None:
    """The first invalid UTF-8 byte; with `partial`, a character cut at the end of a prefix is no error."""
    try:
        codecs.getincrementaldecoder("utf-8")().decode(raw, final=not partial)
    except UnicodeDecodeError as e:
        return e
    return None


def detect_bytes(raw: bytes, partial: bool = False) -> str | None:
    """The encoding of these bytes among UTF-8 / UTF-16 / UTF-32 (BOM), UTF-8, GB18030, Big5, UTF-16
    without BOM; None when none fits. `partial`: the bytes are a prefix of the file."""
    bom = _bom(raw)
    if bom:
        return bom
    # NUL is valid UTF-8: English UTF-16 / UTF-32 would pass as UTF-8 text with NULs between the letters
    nul_pattern = _wide_by_nuls(raw)
    if nul_pattern:
        return nul_pattern
    if _utf8_error(raw, partial) is None:
        return "utf-8"
    from charset_normalizer import from_bytes

    # charset-normalizer scores each candidate's decoded text (mess, language coherence): GB18030 and Big5
    # both decode most double-byte text, only one of them gives sensible Chinese
    best = from_bytes(raw, cp_isolation=DETECTED).best()
    return codecs.lookup(best.encoding).name if best is not None else None


def detect(path: Path, sample: int = DETECT_SAMPLE) -> str:
    """The encoding of a text file (from its first `sample` bytes); a one-line DataError when none fits."""
    path = Path(path)
    with open(path, "rb") as f:
        raw = f.read(sample + 1)
    partial = len(raw) > sample
    raw = raw[:sample]
    found = detect_bytes(raw, partial)
    if found is None:
        raise _undecodable(path, raw, partial)
    return found


def _undecodable(path: Path, raw: bytes, partial: bool = False) -> DataError:
    error = _utf8_error(raw, partial)
    where = f"; its first byte that is not UTF-8 is at offset {error.start}" if error else ""
    return DataError(
        f"{path} is not UTF-8, UTF-16, GB18030 / GBK or Big5 text{where}; set `data.encoding` "
        "(predict: --encoding) to its encoding, e.g. latin-1 or shift_jis, or re-save it as UTF-8."
    )


def decode_error(path: Path, error: UnicodeError, encoding: str, offset: int = 0) -> DataError:
    """A decode failure with a given encoding as one line; `offset`: where the decoded bytes began."""
    start = getattr(error, "start", 0)  # UTF-16 without a BOM raises a bare UnicodeError: at the start
    return DataError(
        f"{path} does not decode as {encoding} (invalid byte at offset {offset + start}); fix "
        "`data.encoding` (predict: --encoding), or leave it out to detect the encoding."
    )


def stream_decode_error(path: Path, encoding: str) -> DataError:
    """Where a file read as a stream (predict's chunked reader) stops decoding as `encoding`, found by
    decoding it again block by block: the same one-line error as `decode`, without the file in memory."""
    decoder = codecs.getincrementaldecoder(encoding)()
    offset = 0
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                decoder.decode(block)
                offset += len(block)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as e:
        return decode_error(path, e, encoding, offset)
    except UnicodeError as e:  # e.g. UTF-16 without a BOM: no byte to name
        return DataError(
            f"{path} does not decode as {encoding} ({e}); fix `data.encoding` (predict: --encoding), or "
            "leave it out to detect the encoding."
        )
    return DataError(f"{path} does not decode as {encoding}; fix --encoding, or leave it out to detect it.")


def decode(raw: bytes, path: Path, encoding: str | None = None) -> Decoded:
    """Decode a whole file's bytes: with `encoding` when given, else with the detected one. A leading
    byte-order mark never becomes part of the text."""
    given = encoding is not None
    if encoding is None:
        encoding = detect_bytes(raw)
        if encoding is None:
            raise _undecodable(path, raw)
    try:
        text = raw.decode(encoding)
    except UnicodeError as e:
        if given:
            raise decode_error(path, e, encoding) from None
        raise _undecodable(path, raw) from None  # charset-normalizer judged from a sample
    if text.startswith("\ufeff"):  # a BOM with an encoding that keeps it (e.g. `utf-8` given)
        text = text[1:]
    if encoding not in ("utf-8", "ascii"):
        logger.debug("%s: read as %s (%s)", path, encoding, "given" if given else "detected")
    return Decoded(text, codecs.lookup(encoding).name, detected=not given)


def open_text(path: Path, encoding: str) -> io.TextIOWrapper:
    """A text stream of `path` in `encoding` (from `detect` or the user) for readers that go in chunks;
    a decode error there is a `UnicodeDecodeError`: turn it into one line with `decode_error`."""
    raw = open(path, "rb")  # noqa: SIM115  (the caller closes the stream, and with it the file)
    stream = io.TextIOWrapper(raw, encoding=encoding, errors="strict", newline="")
    # a BOM the given `utf-8` would keep as text
    if codecs.lookup(encoding).name == "utf-8" and stream.read(1) not in ("\ufeff", ""):
        stream.seek(0)
    return stream
