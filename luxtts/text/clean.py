"""Character-level cleanup before segmentation: invisible/unusable characters and punctuation variants."""

from __future__ import annotations

import unicodedata
import warnings

# Unassigned, private-use, surrogate and non-whitespace control characters have no pronunciation, and a
# NUL would silently truncate the string handed to espeak-ng's C API.
_DROPPED_CATEGORIES = frozenset({"Cc", "Cs", "Co", "Cn"})
# Zero-width joiners, bidi marks, BOMs: invisible, so dropping them loses nothing worth a warning.
_SILENT_CATEGORIES = frozenset({"Cf"})

# Full-width CJK punctuation -> the ASCII marks present in the Emilia token table.
_PUNCTUATION_TABLE = str.maketrans(
    {
        "，": ",",
        "。": ".",
        "！": "!",
        "？": "?",
        "；": ";",
        "：": ":",
        "、": ",",
        "‘": "'",
        "’": "'",
        "“": '"',
        "”": '"',
        "⋯": "…",
    }
)
# Applied after the table, so "。。。" becomes "..." first and then one ellipsis.
_ELLIPSES = ("···", "・・・", "...")


def clean_text(text: str) -> tuple[str, list[str]]:
    """NFC-normalise, turn every whitespace character into a space and remove unusable characters.

    Returns the cleaned text and the distinct removed characters that deserve a warning, in order of
    first appearance.
    """
    text = unicodedata.normalize("NFC", text)
    kept: list[str] = []
    dropped: dict[str, None] = {}
    for char in text:
        if char.isspace():
            kept.append(" ")
            continue
        category = unicodedata.category(char)
        if category in _SILENT_CATEGORIES:
            continue
        if category in _DROPPED_CATEGORIES:
            dropped[char] = None
            continue
        kept.append(char)
    return "".join(kept), list(dropped)


def map_punctuation(text: str) -> str:
    """Rewrite CJK and typographic punctuation into the forms the Emilia tokenizer was trained on."""
    text = text.translate(_PUNCTUATION_TABLE)
    for ellipsis in _ELLIPSES:
        text = text.replace(ellipsis, "…")
    return text


def warn_dropped(items: list[str]) -> None:
    """Emit one warning naming every dropped character or group (escaped, so invisible ones show)."""
    if not items:
        return
    shown = ", ".join(ascii(c) if not c.isprintable() else repr(c) for c in items[:20])
    more = f" and {len(items) - 20} more" if len(items) > 20 else ""
    warnings.warn(f"text: dropped what cannot be spoken: {shown}{more}", UserWarning, stacklevel=3)
