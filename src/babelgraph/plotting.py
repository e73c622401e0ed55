"""Matplotlib, set up once for every PNG babelgraph writes: the Agg backend and a CJK fallback font.

Labels and titles hold Chinese (and Japanese, Korean) text. Matplotlib's default font, DejaVu Sans, has no CJK
glyphs, so without a fallback they render as boxes with one "Glyph ... missing from font" warning per
character. :func:`pyplot` finds an installed CJK font through matplotlib's font manager (on Debian/Ubuntu the
``fonts-noto-cjk`` package; also Source Han, WenQuanYi, Droid Sans Fallback, ...) and puts it after DejaVu Sans
in ``font.family``, so Latin text keeps its look and CJK characters fall back to it (matplotlib >= 3.6).
With no CJK font installed, plots still work, and the glyph warnings are reduced to the first one.
"""

from __future__ import annotations

import warnings
from typing import Any

# preferred first: families that cover simplified Chinese, then any CJK family
_CJK_FAMILIES = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "Noto Sans CJK JP",
    "Noto Sans CJK TC",
    "Noto Serif CJK SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Droid Sans Fallback",
    "AR PL UMing CN",
    "Microsoft YaHei",
    "SimHei",
    "PingFang SC",
    "Hiragino Sans GB",
)
_READY: dict[str, Any] = {}


def cjk_font() -> str | None:
    """The name of an installed font family that has CJK glyphs, or ``None``."""
    from matplotlib import font_manager

    names = {entry.name for entry in font_manager.fontManager.ttflist}
    for family in _CJK_FAMILIES:
        if family in names:
            return family
    for name in sorted(names):
        if "CJK" in name or "Han Sans" in name:
            return name
    return None


def pyplot() -> Any:
    """``matplotlib.pyplot`` with the Agg backend and a CJK fallback font; the setup runs once per process."""
    if "plt" in _READY:
        return _READY["plt"]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    family = cjk_font()
    _READY["font"] = family
    if family is not None:
        # fallback works between named families (not inside the generic "sans-serif"): name both
        matplotlib.rcParams["font.family"] = ["DejaVu Sans", family, "sans-serif"]
    else:  # one warning for the first missing glyph, not one per character
        warnings.filterwarnings("once", message="Glyph .* missing from font", category=UserWarning)
    matplotlib.rcParams["axes.unicode_minus"] = True
    _READY["plt"] = plt
    return plt
