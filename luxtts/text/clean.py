"""Character-level cleanup before segmentation: invisible/unusable characters and punctuation variants."""

from __future__ import annotations

import unicodedata
import warnings

# Unassigned, private-use, surrogate and non-whitespace control characters have no pronunciation, and a
# NUL would silently truncate the string handed to espeak-ng's C API.
_DROPPED_CATEGORIES = frozenset({"Cc", "Cs", "Co", "Cn"})
# Zero-width joiners, bidi marks, BOMs: invisible, so dropping them loses nothing worth a warning.
_SILENT_CATEGORIES = frozenset({"Cf"})

# Emoji are never read out, wherever they stand: espeak-ng would say "grinning face" inside a sentence, which
# no reader wants, and the reference drops them when they stand alone. These blocks hold the pictographs,
# dingbats, flags and skin-tone modifiers; plain symbols such as the degree sign or currency stay readable.
_EMOJI_RANGES = ((0x2600, 0x27BF), (0x2B00, 0x2BFF), (0x1F000, 0x1FAFF))
# Presentation selectors, the keycap mark and skin tones only modify a neighbouring emoji: dropped unnamed.
_EMOJI_MODIFIERS = frozenset("\ufe0e\ufe0f\u20e3" + "".join(map(chr, range(0x1F3FB, 0x1F400))))


def is_emoji(char: str) -> bool:
    code = ord(char)
    return any(low <= code <= high for low, high in _EMOJI_RANGES)


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
    """NFC-normalise, turn every whitespace character into a space and remove unusable characters and emoji
    (an emoji becomes a space: it separates the words around it).

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
        if category in _SILENT_CATEGORIES or char in _EMOJI_MODIFIERS:
            continue
        if category in _DROPPED_CATEGORIES:
            dropped[char] = None
            continue
        if is_emoji(char):  # an emoji separates what is around it, as a space would
            dropped[char] = None
            kept.append(" ")
            continue
        kept.append(char)
    return "".join(kept), list(dropped)


def map_punctuation(text: str) -> str:
    """Rewrite CJK and typographic punctuation into the forms the Emilia tokenizer was trained on."""
    text = text.translate(_PUNCTUATION_TABLE)
    for ellipsis in _ELLIPSES:
        text = text.replace(ellipsis, "…")
    return text


def as_typed(items: list[str], original: str) -> list[str]:
    """``items`` (taken from mapped text) spelled as the user typed them: '…' back to '...' when the user wrote
    three dots, '!' back to '！', and so on; items the user typed as they are stay unchanged."""
    spellings: dict[str, list[str]] = {}
    for source, target in _PUNCTUATION_TABLE.items():
        spellings.setdefault(target, []).append(chr(source))
    spellings.setdefault("…", []).extend(["⋯", *_ELLIPSES])
    typed = []
    for item in items:
        if item in original:
            typed.append(item)
            continue
        used = [s for s in spellings.get(item, []) if s in original]
        typed.append(used[-1] if used else item)
    return list(dict.fromkeys(typed))


def warn_dropped(items: list[str]) -> None:
    """Emit one warning naming every dropped character or group (escaped, so invisible ones show)."""
    if not items:
        return
    shown = ", ".join(ascii(c) if not c.isprintable() else repr(c) for c in items[:20])
    more = f" and {len(items) - 20} more" if len(items) > 20 else ""
    warnings.warn(f"text: dropped what cannot be spoken: {shown}{more}", UserWarning, stacklevel=3)
