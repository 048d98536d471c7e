"""Chinese text normalisation: Arabic numerals, dates, fractions and percentages -> Chinese numerals."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

_DIGITS_ZH = "零一二三四五六七八九"
# cn2an handles at most 16 digits (it warns and leaves longer runs untouched, which pinyin then drops).
_LONG_DIGIT_RUN = re.compile(r"[0-9]{17,}")


@functools.cache
def _an2cn() -> Callable[[str, str], str]:
    import cn2an

    return cn2an.transform


def normalize_chinese(text: str) -> str:
    """'2024年3月15日' -> '二零二四年三月十五日', '25' -> '二十五', '20%' -> '百分之二十'."""
    text = _LONG_DIGIT_RUN.sub(lambda m: "".join(_DIGITS_ZH[int(d)] for d in m.group(0)), text)
    try:
        return _an2cn()(text, "an2cn")
    except Exception:
        # cn2an guards its own substitutions; should anything still escape, keep the raw digits.
        return text
