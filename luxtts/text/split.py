"""Cut long text into chunks the model can speak in one go, at sentence and clause boundaries.

A chunk is a slice of the input with its outer whitespace stripped; the slices tile the input, so no
character other than whitespace between chunks is ever lost, and no chunk is empty.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from itertools import pairwise

from luxtts.errors import EmptyTextError, InvalidOptionError

# Emilia phoneme tokens run at about 1 per character of English and 1.8 per Chinese character, so this is
# roughly the 100 tokens the models handle best in one pass (use chunk_tokens for an exact token count).
DEFAULT_MAX_CHARS = 100
DEFAULT_MAX_TOKENS = 100

_CLOSERS = "\"')]}»”’」』）】〉》"
# Sentence ends: CJK marks end a sentence anywhere; ASCII marks only before whitespace or the end.
_SENTENCE_END = re.compile(rf"[。！？；…]+[{re.escape(_CLOSERS)}]*|[.!?;]+[{re.escape(_CLOSERS)}]*(?=\s|$)|\n")
_CLAUSE_END = re.compile(rf"[,，、:：—–]+[{re.escape(_CLOSERS)}]*")
_SPACE = re.compile(r"\s+")
# Words whose trailing period does not end a sentence.
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr drs st jr sr prof rev gen col lt sgt capt maj hon esq ltd co ft vs etc e.g i.e".split()
)

_TOKEN_SENTENCE_END = frozenset(".!?;:,。！？；：，")

Span = tuple[int, int]


def split_sentences(text: str, max_chars: int = DEFAULT_MAX_CHARS) -> list[str]:
    """Chunks of `text`, each at most `max_chars` characters, cut at sentences, then clauses, then spaces.

    Short sentences are packed together up to `max_chars`; a word longer than `max_chars` is cut inside.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    _check_limit("max_chars", max_chars)
    if not text.strip():
        raise EmptyTextError(f"text is empty or only whitespace ({text[:20]!r}); give at least one word to speak")

    def size(span: Span) -> int:
        return len(text[span[0] : span[1]].strip())

    sentences = _cut_after(text, (0, len(text)), _sentence_ends(text))
    pieces = [piece for sentence in sentences for piece in _fit(text, sentence, max_chars, size, level=0)]
    chunks = [text[a:b].strip() for a, b in _pack(pieces, max_chars, size)]
    return [chunk for chunk in chunks if chunk]


def chunk_tokens(tokens: Sequence[str], max_tokens: int = DEFAULT_MAX_TOKENS) -> list[list[str]]:
    """Token lists of at most `max_tokens`, cut after punctuation, then at word gaps, then anywhere.

    Each cut keeps the punctuation and spaces that follow a sentence with it, so the chunks join back
    to `tokens` exactly.
    """
    _check_limit("max_tokens", max_tokens)
    tokens = list(tokens)

    def size(span: Span) -> int:
        return span[1] - span[0]

    ends = [i + 1 for i, t in enumerate(tokens) if t in _TOKEN_SENTENCE_END]
    # Trailing spaces and punctuation belong to the sentence they follow.
    ends = [_skip(tokens, e, lambda t: t == " " or t in _TOKEN_SENTENCE_END) for e in ends]
    sentences = _cut_at(sorted(set(ends)), (0, len(tokens)))
    pieces: list[Span] = []
    for sentence in sentences:
        pieces.extend(_fit_tokens(tokens, sentence, max_tokens, size))
    return [tokens[a:b] for a, b in _pack(pieces, max_tokens, size)]


def _check_limit(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidOptionError(f"{name} must be a positive integer, got {value!r}")


def _sentence_ends(text: str) -> list[int]:
    ends = []
    for match in _SENTENCE_END.finditer(text):
        if match.group(0).startswith(".") and _is_abbreviation(text, match.start()):
            continue
        ends.append(match.end())
    return ends


def _is_abbreviation(text: str, dot: int) -> bool:
    start = dot
    while start > 0 and (text[start - 1].isalpha() or text[start - 1] == "."):
        start -= 1
    word = text[start:dot].lower()
    # Titles ("Mr. Jones"), initials ("J. Smith") and dotted acronyms ("U.S.A. today").
    return word in _ABBREVIATIONS or len(word) == 1 or "." in word


def _cut_after(text: str, span: Span, cuts: list[int]) -> list[Span]:
    return _cut_at([c for c in cuts if span[0] < c < span[1]], span)


def _cut_at(cuts: list[int], span: Span) -> list[Span]:
    bounds = [span[0], *[c for c in cuts if span[0] < c < span[1]], span[1]]
    return [(a, b) for a, b in pairwise(bounds) if b > a]


def _fit(text: str, span: Span, limit: int, size: Callable[[Span], int], level: int) -> list[Span]:
    """Cut `span` at ever finer boundaries (clauses, spaces, characters) until every piece fits."""
    if size(span) <= limit:
        return [span]
    if level == 0:
        cuts = [m.end() for m in _CLAUSE_END.finditer(text, span[0], span[1])]
    elif level == 1:
        cuts = [m.start() for m in _SPACE.finditer(text, span[0], span[1])]
    else:
        return _hard_cut(text, span, limit)
    parts = _cut_at(cuts, span)
    if len(parts) <= 1:
        return _fit(text, span, limit, size, level + 1)
    return [piece for part in _pack(parts, limit, size) for piece in _fit(text, part, limit, size, level + 1)]


def _hard_cut(text: str, span: Span, limit: int) -> list[Span]:
    start, end = span
    while start < end and text[start].isspace():
        start += 1
    pieces = [(span[0], start)] if start > span[0] else []
    while start < end:
        stop = min(start + limit, end)
        pieces.append((start, stop))
        start = stop
    return pieces


def _fit_tokens(tokens: list[str], span: Span, limit: int, size: Callable[[Span], int]) -> list[Span]:
    if size(span) <= limit:
        return [span]
    gaps = [i + 1 for i in range(span[0], span[1]) if tokens[i] == " "]
    parts = _cut_at(gaps, span)
    packed = _pack(parts, limit, size) if len(parts) > 1 else parts
    pieces: list[Span] = []
    for a, b in packed:
        pieces.extend((i, min(i + limit, b)) for i in range(a, b, limit))
    return pieces


def _pack(spans: list[Span], limit: int, size: Callable[[Span], int]) -> list[Span]:
    """Merge neighbouring spans greedily while the merged span still fits."""
    packed: list[Span] = []
    for span in spans:
        if packed and size((packed[-1][0], span[1])) <= limit:
            packed[-1] = (packed[-1][0], span[1])
        else:
            packed.append(span)
    return packed


def _skip(tokens: list[str], index: int, keep: Callable[[str], bool]) -> int:
    while index < len(tokens) and keep(tokens[index]):
        index += 1
    return index
