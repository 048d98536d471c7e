"""Chunk planning: the fewest chunks under the token cap, balanced, cut at punctuation, and the streaming policy."""

from __future__ import annotations

import math
from itertools import combinations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from luxtts.errors import InvalidOptionError
from luxtts.text import EmiliaTokenizer
from luxtts.text.split import FIRST_CHUNK_MAX, FIRST_CLAUSE, FEWEST, chunk_tokens

_PUNCT = set(".!?;:,。！？；：，、—–…")
_ALPHABET = ["a", "b", "ɪ", "ˈ", " ", " ", ".", ",", "!", ";", "。", "zh0", "[S1]"]


def greedy_reference(tokens, limit):
    """The packer this planner replaced: sentences packed greedily, long ones cut at word gaps, then anywhere."""
    ends = sorted({_skip_run(tokens, i + 1) for i, t in enumerate(tokens) if t in _PUNCT})
    bounds = [0, *[e for e in ends if 0 < e < len(tokens)], len(tokens)]
    pieces = []
    for a, b in zip(bounds, bounds[1:]):
        if b - a <= limit:
            pieces.append((a, b))
            continue
        gaps = [a, *[i + 1 for i in range(a, b) if tokens[i] == " " and a < i + 1 < b], b]
        for pa, pb in _pack(list(zip(gaps, gaps[1:])), limit):
            pieces.extend((i, min(i + limit, pb)) for i in range(pa, pb, limit))
    return [tokens[a:b] for a, b in _pack(pieces, limit)]


def _skip_run(tokens, i):
    while i < len(tokens) and (tokens[i] == " " or tokens[i] in _PUNCT):
        i += 1
    return i


def _pack(spans, limit):
    out = []
    for a, b in spans:
        if out and b - out[-1][0] <= limit:
            out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def _inner_word(tokens, i):
    """A cut between tokens[i-1] and tokens[i] that splits a word (not after a space or mark, not before a space)."""
    return not (tokens[i - 1] == " " or tokens[i - 1] in _PUNCT or tokens[i] == " ")


def _cut_positions(chunks):
    out, pos = [], 0
    for chunk in chunks[:-1]:
        pos += len(chunk)
        out.append(pos)
    return out


def brute_force_best(tokens, limit):
    """(inner-word cuts, chunks) of the best plan, trying every set of cuts (small inputs only)."""
    n = len(tokens)
    best = None
    for k in range(math.ceil(n / limit) - 1, n):
        for cuts in combinations(range(1, n), k):
            bounds = [0, *cuts, n]
            if all(b - a <= limit for a, b in zip(bounds, bounds[1:])):
                key = (sum(_inner_word(tokens, i) for i in cuts), k + 1)
                best = key if best is None or key < best else best
        if best is not None and best[0] == 0:
            return best  # more chunks cannot beat a plan without inner-word cuts
    return best


@settings(max_examples=300, deadline=None)
@given(tokens=st.lists(st.sampled_from(_ALPHABET), max_size=250), limit=st.integers(1, 60),
       policy=st.sampled_from([FEWEST, FIRST_CLAUSE]))
def test_chunks_respect_the_cap_and_join_back(tokens, limit, policy):
    chunks = chunk_tokens(tokens, limit, policy)
    assert [t for c in chunks for t in c] == tokens
    assert all(0 < len(c) <= limit for c in chunks)


@settings(max_examples=300, deadline=None)
@given(tokens=st.lists(st.sampled_from(_ALPHABET), max_size=250), limit=st.integers(1, 60))
def test_never_more_chunks_or_inner_word_cuts_than_the_greedy_packer(tokens, limit):
    ours = chunk_tokens(tokens, limit)
    theirs = greedy_reference(tokens, limit)
    assert [t for c in theirs for t in c] == tokens  # the reference itself is sound
    assert len(ours) >= math.ceil(len(tokens) / limit)
    ours_inner = sum(_inner_word(tokens, i) for i in _cut_positions(ours))
    theirs_inner = sum(_inner_word(tokens, i) for i in _cut_positions(theirs))
    assert (ours_inner, len(ours)) <= (theirs_inner, len(theirs))
    assert len(ours) <= len(theirs)


@settings(max_examples=150, deadline=None)
@given(tokens=st.lists(st.sampled_from(["a", "b", " ", ",", "."]), max_size=13), limit=st.integers(2, 8))
def test_chunk_count_is_minimal_by_brute_force(tokens, limit):
    chunks = chunk_tokens(tokens, limit)
    if len(tokens) <= limit:
        assert len(chunks) == (1 if tokens else 0)
        return
    inner = sum(_inner_word(tokens, i) for i in _cut_positions(chunks))
    assert (inner, len(chunks)) == brute_force_best(tokens, limit)


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 600), limit=st.integers(1, 120))
def test_free_cuts_give_ceil_chunks_of_equal_length(n, limit):
    chunks = chunk_tokens([" "] * n, limit)  # every position is a word gap
    assert len(chunks) == math.ceil(n / limit)
    sizes = [len(c) for c in chunks]
    assert max(sizes) - min(sizes) <= 1


@settings(max_examples=200, deadline=None)
@given(words=st.integers(1, 150), limit=st.integers(3, 120))
def test_equal_words_give_balanced_chunks(words, limit):
    tokens = ["a", "b", " "] * words
    chunks = chunk_tokens(tokens, limit)
    sizes = [len(c) for c in chunks]
    assert max(sizes) - min(sizes) <= 3  # one word
    # Cut at a gap (after it, or before it when that saves a chunk), never inside a word.
    assert all(c[-1] == " " or d[0] == " " for c, d in zip(chunks, chunks[1:]))


def test_cuts_go_to_the_strongest_mark_near_the_balanced_point():
    # 30 tokens, cap 20: two chunks; a comma at 12, a full stop at 14 and word gaps elsewhere.
    tokens = list("aaa aaa aa, a. aaa aaa aaa aaa")
    chunks = chunk_tokens(tokens, 20)
    assert ["".join(c) for c in chunks] == ["aaa aaa aa, a. ", "aaa aaa aaa aaa"]
    # No mark inside the window the cap allows (10..20): the word gap nearest the middle.
    tokens = list("aaaa, aaa aaa aaa aaa aaaa aaa")
    assert ["".join(c) for c in chunk_tokens(tokens, 20)] == ["aaaa, aaa aaa ", "aaa aaa aaaa aaa"]


def test_first_clause_policy_gives_a_short_first_chunk():
    tokens = list("ab cd ef gh, " + "ij kl mn op qr st uv wx yz " * 6)
    fewest = chunk_tokens(tokens, 100, FEWEST)
    first = chunk_tokens(tokens, 100, FIRST_CLAUSE)
    assert len(fewest) == 2
    assert "".join(first[0]) == "ab cd ef gh, "
    assert len(first) == 3 and [t for c in first for t in c] == tokens
    # Text that fits in one pass is spoken in one pass under either policy.
    assert chunk_tokens(tokens[:90], 100, FIRST_CLAUSE) == [tokens[:90]]


@settings(max_examples=200, deadline=None)
@given(tokens=st.lists(st.sampled_from(_ALPHABET), max_size=250), limit=st.integers(1, 120))
def test_first_clause_policy_is_short_first_then_fewest(tokens, limit):
    chunks = chunk_tokens(tokens, limit, FIRST_CLAUSE)
    if len(tokens) > limit:
        assert len(chunks[0]) <= FIRST_CHUNK_MAX
        assert chunks[1:] == chunk_tokens(tokens[len(chunks[0]):], limit, FEWEST)


def test_bad_policy_and_cap_are_refused():
    with pytest.raises(InvalidOptionError, match="policy"):
        chunk_tokens(list("ab"), 10, "shortest")
    with pytest.raises(InvalidOptionError, match="max_tokens"):
        chunk_tokens(list("ab"), 0)


def test_w1_is_two_balanced_chunks_and_streams_its_first_clause_first(folder):
    from luxtts.bench.workloads import W1_TEXT

    tokenizer = EmiliaTokenizer(folder / "tokens.txt")
    tokens = tokenizer.text_to_tokens(W1_TEXT)
    assert len(chunk_tokens(tokens, 100)) < len(greedy_reference(tokens, 100)) == 3
    fewest = chunk_tokens(tokens, 100, FEWEST)
    assert len(fewest) == 2
    assert abs(len(fewest[0]) - len(fewest[1])) <= 10
    assert fewest[0][-1] == " "  # cut at a word gap: no mark falls inside the window the cap allows
    first = chunk_tokens(tokens, 100, FIRST_CLAUSE)
    assert "".join(first[0]).rstrip().endswith(",") and len(first[0]) <= 45
    assert len(first) == 3


def test_pipeline_policies(tts, prompt):
    from luxtts.bench.workloads import W1_TEXT

    whole = tts.generate(W1_TEXT, prompt, seed=3)
    assert len(whole.chunks) == 2 and sum(c.tokens for c in whole.chunks) == len(tts.tokenizer.encode(W1_TEXT))
    infos = []
    pieces = list(tts.stream(W1_TEXT, prompt, seed=3, chunk_infos=infos))
    assert len(infos) == 3 and infos[0].tokens < infos[1].tokens and pieces
    one = tts.generate(W1_TEXT, prompt, seed=3, chunk_tokens=None)
    assert len(one.chunks) == 1 and len(tts.generate(W1_TEXT, prompt, seed=3, chunk_tokens=0).chunks) == 1
    with pytest.raises(InvalidOptionError, match="chunk_policy"):
        tts.generate(W1_TEXT, prompt, chunk_policy="sentences")
