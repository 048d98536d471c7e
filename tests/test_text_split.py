"""Sentence splitting and token chunking: fixed cases and properties (nothing lost, limits kept)."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from luxtts.errors import EmptyTextError, InvalidOptionError
from luxtts.text import chunk_tokens, split_sentences


def _visible(text: str) -> str:
    return "".join(text.split())


def test_english_sentences_are_packed_up_to_the_limit():
    text = "Hello there. How are you? I am fine! Thanks."
    assert split_sentences(text, max_chars=24) == ["Hello there.", "How are you? I am fine!", "Thanks."]
    assert split_sentences(text, max_chars=25) == ["Hello there. How are you?", "I am fine! Thanks."]
    assert split_sentences(text, max_chars=1000) == [text]


def test_abbreviations_decimals_and_initials_do_not_end_sentences():
    text = "Mr. Smith paid 3.50 in the U.S.A. today. Then he left."
    assert split_sentences(text, max_chars=40) == ["Mr. Smith paid 3.50 in the U.S.A. today.", "Then he left."]


def test_chinese_sentences():
    text = "你好，世界！今天天气很好。我们去公园吧？"
    assert split_sentences(text, max_chars=8) == ["你好，世界！", "今天天气很好。", "我们去公园吧？"]


def test_mixed_and_closing_quotes():
    text = '他说："Hello!" 然后走了。 She said "bye." Done.'
    assert split_sentences(text, max_chars=16) == ['他说："Hello!"', "然后走了。", 'She said "bye."', "Done."]


def test_long_sentence_falls_back_to_clauses_then_words_then_characters():
    text = "one two three, four five six, seven eight nine"
    assert split_sentences(text, max_chars=15) == ["one two three,", "four five six,", "seven eight", "nine"]
    assert split_sentences("abcdefghij", max_chars=4) == ["abcd", "efgh", "ij"]


def test_newlines_separate_paragraphs():
    assert split_sentences("First line\nsecond line", max_chars=100) == ["First line\nsecond line"]
    assert split_sentences("First line\nsecond line", max_chars=12) == ["First line", "second line"]


def test_blank_text_and_bad_limits_raise():
    with pytest.raises(EmptyTextError):
        split_sentences(" \n\t ")
    for bad in (0, -3, 2.5, True, "10"):
        with pytest.raises(InvalidOptionError):
            split_sentences("hello", max_chars=bad)
    with pytest.raises(InvalidOptionError):
        chunk_tokens(["a"], max_tokens=0)


_SPLIT_ALPHABET = st.sampled_from(list("ab xyz.,!?;:。！？，、…\n\t\"')（）—") + ["Mr.", "3.5", "你", "好", "U.S."])


@settings(max_examples=300, deadline=None)
@given(
    text=st.one_of(st.text(min_size=1, max_size=300), st.lists(_SPLIT_ALPHABET, min_size=1, max_size=120).map("".join)),
    max_chars=st.integers(1, 80),
)
def test_split_never_loses_text_and_respects_the_limit(text, max_chars):
    if not text.strip():
        with pytest.raises(EmptyTextError):
            split_sentences(text, max_chars)
        return
    chunks = split_sentences(text, max_chars)
    assert chunks
    assert all(chunk and chunk == chunk.strip() for chunk in chunks)
    assert all(len(chunk) <= max_chars for chunk in chunks)
    assert _visible("".join(chunks)) == _visible(text)
    # Chunks appear in order as slices of the input.
    position = 0
    for chunk in chunks:
        found = text.find(chunk, position)
        assert found >= position
        position = found + len(chunk)


def test_chunk_tokens_cuts_after_punctuation():
    tokens = list("ab, cd. ef gh")
    assert chunk_tokens(tokens, max_tokens=4) == [list("ab, "), list("cd. "), list("ef "), list("gh")]
    assert chunk_tokens(tokens, max_tokens=5) == [list("ab, "), list("cd. "), list("ef gh")]
    assert chunk_tokens(tokens, max_tokens=8) == [list("ab, cd. "), list("ef gh")]
    assert chunk_tokens([], max_tokens=8) == []


@settings(max_examples=300, deadline=None)
@given(
    tokens=st.lists(st.sampled_from(["a", "b", "ɪ", " ", ".", ",", "!", "。", "zh0", "[S1]"]), max_size=200),
    limit=st.integers(1, 60),
)
def test_chunk_tokens_never_loses_tokens(tokens, limit):
    chunks = chunk_tokens(tokens, limit)
    assert [t for chunk in chunks for t in chunk] == tokens
    assert all(0 < len(chunk) <= limit for chunk in chunks)
