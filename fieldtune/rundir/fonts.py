"""A font for CJK label names in plots: found among the system's fonts, else a clean fallback.

matplotlib's default DejaVu Sans has no Chinese glyphs: a confusion matrix of `低 / 中 / 高` would show
empty boxes. When a plot's texts hold CJK characters, `fonts_for(texts)` puts a system font that has
every one of those glyphs first in the font family (it has Latin letters too; DejaVu stays as the fallback
for the rest). matplotlib caches its font list once per installation, so a font installed later (Debian's
`fonts-noto-cjk` or `fonts-wqy-microhei`, as scripts/test.sh does) is added from the system's font folders.
Without any such font the plot is still written, with one warning saying what to install.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
import warnings
from collections.abc import Iterable, Iterator

import matplotlib
from matplotlib import font_manager, rc_context

logger = logging.getLogger(__name__)

_CJK = re.compile("[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]")
PREFERRED = (  # widely installed CJK fonts, tried first (a font's charmap is large to read)
    "Noto Sans CJK SC", "Noto Sans CJK TC", "Noto Sans CJK JP", "Source Han Sans SC", "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei", "Microsoft YaHei", "SimHei", "PingFang SC", "Hiragino Sans GB", "Arial Unicode MS",
)  # fmt: skip
INSTALL_HINT = "install a CJK font (Debian: apt-get install fonts-noto-cjk or fonts-wqy-microhei)"


def cjk_chars(texts: Iterable[str]) -> str:
    """The distinct CJK characters of these texts, in order."""
    return "".join(dict.fromkeys(ch for t in texts for ch in str(t) if _CJK.match(ch)))


@functools.lru_cache(maxsize=1)
def _system_fonts_added() -> None:
    """Add system font files matplotlib's cached list does not know yet (installed after the cache)."""
    known = {f.fname for f in font_manager.fontManager.ttflist}
    for path in font_manager.findSystemFonts():
        if path not in known:
            with contextlib.suppress(Exception):  # a broken font file is not our problem
                font_manager.fontManager.addfont(path)


@functools.lru_cache(maxsize=64)
def _charmap(path: str) -> frozenset[int]:
    from matplotlib.ft2font import FT2Font

    try:
        return frozenset(FT2Font(path).get_charmap())
    except Exception:  # unreadable font
        return frozenset()


def font_covering(chars: str) -> str | None:
    """A font family name whose font has a glyph for each of `chars`; None when the system has none."""
    _system_fonts_added()
    entries = sorted(
        font_manager.fontManager.ttflist,
        key=lambda f: PREFERRED.index(f.name) if f.name in PREFERRED else len(PREFERRED),
    )
    for entry in entries:
        if entry.name in PREFERRED or _CJK.search(entry.name) or "CJK" in entry.name:
            cmap = _charmap(entry.fname)
            if all(ord(ch) in cmap for ch in chars):
                return entry.name
    return None


@functools.lru_cache(maxsize=1)
def _warn_no_font(example: str) -> None:
    logger.warning(
        "No font with Chinese / Japanese / Korean glyphs was found (e.g. for %r): plot labels in them show "
        "as empty boxes; %s.",
        example,
        INSTALL_HINT,
    )


@contextlib.contextmanager
def fonts_for(texts: Iterable[str]) -> Iterator[str | None]:
    """Within the block, matplotlib draws these texts with a font that has their glyphs (yields its name)."""
    chars = cjk_chars(texts)
    if not chars:
        yield None
        return
    family = font_covering(chars)
    if family is None:
        _warn_no_font(chars[:10])
        with warnings.catch_warnings():  # one warning above, not one per missing glyph
            warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from font")
            yield None
        return
    sans = [family] + [f for f in matplotlib.rcParams["font.sans-serif"] if f != family]
    with rc_context({"font.family": "sans-serif", "font.sans-serif": sans}):
        yield family
