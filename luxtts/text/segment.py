"""Split mixed text into runs of one kind: Chinese, English, explicit pinyin ``<zhang1>``, tags ``[S1]``.

Characters that are neither Chinese nor ASCII letters (spaces, digits, punctuation, other scripts) have no
kind of their own: they join the run before them, or the first run when they lead the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Kind = Literal["zh", "en", "pinyin", "tag", "other"]

# A bracketed group opens with '<' or '[' and ends at the first '>' or ']'; otherwise one character.
_PART = re.compile(r"[<\[].*?[>\]]|.", re.DOTALL)


@dataclass(frozen=True)
class Segment:
    text: str
    kind: Kind


def segment_text(text: str) -> list[Segment]:
    """Runs of `text` in order; their concatenation is `text` (``other`` only when no run has a kind)."""
    groups = _group_by_script(_PART.findall(text))
    return [segment for parts, kind in groups for segment in _split_brackets(parts, kind)]


def is_chinese_char(part: str) -> bool:
    return len(part) == 1 and "\u4e00" <= part <= "\u9fa5"


def is_ascii_letter(part: str) -> bool:
    return len(part) == 1 and part.isascii() and part.isalpha()


def is_pinyin_group(part: str) -> bool:
    return len(part) >= 2 and part[0] == "<" and part[-1] == ">"


def is_tag_group(part: str) -> bool:
    return len(part) >= 2 and part[0] == "[" and part[-1] == "]"


def _script(part: str) -> Kind:
    if is_chinese_char(part) or is_pinyin_group(part):
        return "zh"
    if is_ascii_letter(part):
        return "en"
    return "other"


def _group_by_script(parts: list[str]) -> list[tuple[list[str], Kind]]:
    groups: list[tuple[list[str], Kind]] = []
    current: list[str] = []
    kind: Kind = "other"
    for part in parts:
        script = _script(part)
        if script == "other" or script == kind or kind == "other":
            current.append(part)
            if kind == "other":
                kind = script
            continue
        groups.append((current, kind))
        current, kind = [part], script
    if current:
        groups.append((current, kind))
    return groups


def _split_brackets(parts: list[str], kind: Kind) -> list[Segment]:
    """Bracketed groups become runs of their own; the text between keeps the group's kind."""
    segments: list[Segment] = []
    plain: list[str] = []
    for part in parts:
        if len(part) < 2:
            plain.append(part)
            continue
        if plain:
            segments.append(Segment("".join(plain), kind))
            plain = []
        if is_pinyin_group(part):
            segments.append(Segment(part, "pinyin"))
        elif is_tag_group(part):
            segments.append(Segment(part, "tag"))
        else:
            segments.append(Segment(part, kind))
    if plain:
        segments.append(Segment("".join(plain), kind))
    return segments
