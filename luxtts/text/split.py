"""Cut long text into chunks the model can speak in one go: characters (split_sentences) or phoneme tokens
(chunk_tokens, what the pipeline uses), at sentence and clause boundaries.

A chunk is a slice of the input with its outer whitespace stripped; the slices tile the input, so no
character other than whitespace between chunks is ever lost, and no chunk is empty.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from itertools import pairwise
from typing import Optional

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

# Token chunking. Why a cap at all: the distilled model starts to insert spurious mid-phrase pauses once prompt +
# target text pass ~200 tokens in one pass (FluidAudio issues #937 and #942: pauses in 6 of 8 single-pass draws
# at 106 target tokens, none when the same text was spoken in two halves). A 5 s prompt is ~60-100 tokens, so
# 100 target tokens per pass keeps prompt + text near that bound.
FEWEST = "fewest"  # whole-file callers: the fewest passes (each pass re-reads the prompt's frames)
FIRST_CLAUSE = "first_clause"  # streaming callers: a short first chunk for sooner first audio, then the fewest
POLICIES = (FEWEST, FIRST_CLAUSE)
# A streaming caller's first chunk: the first clause end within these bounds (tokens), else a word gap near
# FIRST_CHUNK_TOKENS (about 2 s of speech): short enough to start soon, long enough to carry a phrase.
FIRST_CHUNK_MIN = 12
FIRST_CHUNK_MAX = 60
FIRST_CHUNK_TOKENS = 40

# Cut kinds, best first, and what each costs a plan; a cut inside a word is counted apart (fewest wins).
_SENTENCE, _PAUSE, _CLAUSE, _WORD, _BEFORE_GAP, _HARD = range(6)
_KIND_COST = {_SENTENCE: 0.0, _PAUSE: 0.25, _CLAUSE: 0.5, _WORD: 2.0, _BEFORE_GAP: 2.2, _HARD: 2.0}
_PUNCT_CUT = {
    **dict.fromkeys(".!?。！？…", _SENTENCE),
    **dict.fromkeys(";:；：", _PAUSE),
    **dict.fromkeys(",，、—–", _CLAUSE),
}

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

    sentences = _cut_after(text, (0, len(text)), sentence_ends(text))
    pieces = [piece for sentence in sentences for piece in _fit(text, sentence, max_chars, size, level=0)]
    chunks = [text[a:b].strip() for a, b in _pack(pieces, max_chars, size)]
    return [chunk for chunk in chunks if chunk]


def chunk_tokens(tokens: Sequence[str], max_tokens: int = DEFAULT_MAX_TOKENS,
                 policy: str = FEWEST) -> list[list[str]]:
    """Token lists of at most `max_tokens` that join back to `tokens` exactly (see :func:`plan_cuts`)."""
    tokens = list(tokens)
    bounds = [0, *plan_cuts(tokens, max_tokens, policy), len(tokens)]
    return [tokens[a:b] for a, b in pairwise(bounds) if b > a]


def plan_cuts(tokens: Sequence[str], max_tokens: int = DEFAULT_MAX_TOKENS, policy: str = FEWEST) -> list[int]:
    """Where to cut `tokens` (sorted positions strictly inside it) so that no chunk exceeds `max_tokens`.

    policy FEWEST: no cut inside a word unless a word is longer than the cap, then the fewest chunks (so
    ceil(len / max_tokens) whenever word gaps allow it), then each cut at the strongest punctuation (sentence
    end, then pause, then clause), else at a word gap, nearest the point that makes the chunks equal in length
    (a dynamic programme over the candidate cuts, O(len x max_tokens) at worst). FIRST_CLAUSE: the same, after a short first chunk (up to the first clause or sentence
    end, else a word gap near FIRST_CHUNK_TOKENS) when the text needs more than one chunk anyway, so that a
    streaming caller hears audio sooner at the cost of one more pass.
    """
    _check_limit("max_tokens", max_tokens)
    if policy not in POLICIES:
        raise InvalidOptionError(f"chunk policy must be one of {list(POLICIES)}, got {policy!r}")
    tokens = list(tokens)
    n = len(tokens)
    if n <= max_tokens:
        return []
    kinds = _cut_kinds(tokens)
    if policy == FIRST_CLAUSE:
        first = _first_cut(kinds, n, max_tokens)
        return [first, *(first + c for c in _fewest(kinds[first:] , n - first, max_tokens))]
    return _fewest(kinds, n, max_tokens)


def _cut_kinds(tokens: list[str]) -> list[int]:
    """kinds[i]: how good a place position i (between tokens[i-1] and tokens[i]) is to cut; index 0 unused."""
    kinds = [_HARD] * (len(tokens) + 1)
    for i in range(1, len(tokens)):
        before, after = tokens[i - 1], tokens[i]
        if before == " " or before in _PUNCT_CUT:
            kinds[i] = _WORD
        elif after == " ":
            kinds[i] = _BEFORE_GAP  # the space would open the next chunk
    # A pause mark, with the spaces and marks after it, ends its sentence or clause: cut after the whole run.
    i = 0
    while i < len(tokens):
        if tokens[i] in _PUNCT_CUT or tokens[i] == " ":
            j = i
            while j < len(tokens) and (tokens[j] in _PUNCT_CUT or tokens[j] == " "):
                j += 1
            marks = [_PUNCT_CUT[t] for t in tokens[i:j] if t in _PUNCT_CUT]
            if marks and j < len(tokens):
                kinds[j] = min(marks)
            i = j
        else:
            i += 1
    return kinds


def _fewest(kinds: list[int], n: int, limit: int) -> list[int]:
    """The cuts of the best plan for kinds[0..n] (see :func:`plan_cuts`), by dynamic programming."""
    if n <= limit:
        return []
    candidates = [i for i in range(1, n) if kinds[i] != _HARD]
    # Inside a word run longer than the limit any position may be cut; elsewhere a cut inside a word never helps.
    bounds = [0, *candidates, n]
    hard = [i for a, b in pairwise(bounds) if b - a > limit for i in range(a + 1, b)]
    points = [0, *sorted(candidates + hard), n]
    # Pass 1: fewest (inner-word cuts, chunks); pass 2: the same, then the least penalty for that chunk count.
    count = _solve(points, kinds, limit, target=None)[1]
    return _solve(points, kinds, limit, target=n / count)[3]


def _solve(points: list[int], kinds: list[int], limit: int, target: Optional[float]):
    """Best (inner-word cuts, chunks, penalty, cuts) over plans ending at points[-1]; points[0] = 0."""
    best: list[Optional[tuple]] = [None] * len(points)
    best[0] = (0, 0, 0.0, -1)  # (hard cuts, chunks, penalty, index of the previous cut)
    lo = 0
    for j in range(1, len(points)):
        end = points[j]
        while end - points[lo] > limit:
            lo += 1
        last = j == len(points) - 1
        own_hard = 0 if last or kinds[end] != _HARD else 1
        own_cost = 0.0 if last else _KIND_COST[kinds[end]]
        choice = None
        for i in range(lo, j):
            prev = best[i]
            if prev is None:
                continue
            penalty = prev[2] + own_cost
            if target is not None:
                penalty += ((end - points[i] - target) / limit) ** 2
            key = (prev[0] + own_hard, prev[1] + 1, penalty if target is not None else 0.0, i)
            if choice is None or key[:3] < choice[:3]:
                choice = key
        best[j] = choice
    hard, count, penalty, _ = best[-1]
    cuts = []
    j = best[-1][3]
    while j > 0:
        cuts.append(points[j])
        j = best[j][3]
    return hard, count, penalty, cuts[::-1]


def _first_cut(kinds: list[int], n: int, limit: int) -> int:
    """Where a streaming caller's first chunk ends: the first clause or sentence end within
    [FIRST_CHUNK_MIN, FIRST_CHUNK_MAX], else the word gap nearest FIRST_CHUNK_TOKENS (else anywhere)."""
    top = min(FIRST_CHUNK_MAX, limit, n - 1)
    for i in range(min(FIRST_CHUNK_MIN, top), top + 1):
        if kinds[i] <= _CLAUSE:
            return i
    aim = min(FIRST_CHUNK_TOKENS, top)
    gaps = [i for i in range(1, top + 1) if kinds[i] != _HARD]
    return min(gaps, key=lambda i: (abs(i - aim), i)) if gaps else aim


def _check_limit(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidOptionError(f"{name} must be a positive integer, got {value!r}")


def sentence_ends(text: str) -> list[int]:
    """Offsets just past each sentence end in `text` (abbreviations such as "Mr." and initials excepted)."""
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


def _pack(spans: list[Span], limit: int, size: Callable[[Span], int]) -> list[Span]:
    """Merge neighbouring spans greedily while the merged span still fits."""
    packed: list[Span] = []
    for span in spans:
        if packed and size((packed[-1][0], span[1])) <= limit:
            packed[-1] = (packed[-1][0], span[1])
        else:
            packed.append(span)
    return packed


