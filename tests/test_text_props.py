"""Tokenizers on hostile input: any string tokenizes or raises a TextError; what is dropped is warned once."""

import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import GOLDEN_DIR
from luxtts.errors import EmptyTextError, InvalidOptionError, TextError, UnspeakableTextError
from luxtts.text import EmiliaTokenizer, EspeakTokenizer

TOKENS = GOLDEN_DIR / "tokenizer" / "tokens.txt"

EMILIA = EmiliaTokenizer(TOKENS)
EMILIA_DROP = EmiliaTokenizer(TOKENS, foreign="drop")
ESPEAK = EspeakTokenizer(TOKENS, "en-us")

# Pieces that exercise every branch: brackets, pinyin, tags, digits, currency, CJK, other scripts, controls.
_PIECES = st.sampled_from(
    ["<", ">", "[", "]", "<zhang1>", "<abc>", "[S1]", "<中1>", "$", "£", "%", "/", ".", ",", "1,000", "3.14",
     "21st", "9" * 40, "你", "好", "一", "Hello", " ", "\n", "\x00", "\x07", "\u200d", "😀", "Привет", "é",
     "\ud800", "\U000f0000", "…", "。", "，", "2024年", "e\u0301"]
)  # fmt: skip
_TEXTS = st.one_of(st.text(max_size=80), st.lists(_PIECES, max_size=25).map("".join))


def _ids_or_text_error(tokenizer, text: str) -> list[int] | None:
    try:
        ids = tokenizer.encode(text)
    except TextError:
        return None
    assert ids and all(0 <= i < tokenizer.vocab_size for i in ids)
    return ids


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_TEXTS)
def test_any_string_tokenizes_or_raises_a_text_error(text):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for tokenizer in (EMILIA, EMILIA_DROP, ESPEAK):
            ids = _ids_or_text_error(tokenizer, text)
            if not text.strip():
                assert ids is None
    # At most one warning per encode call.
    assert len([w for w in caught if "dropped" in str(w.message)]) <= 3


@pytest.mark.parametrize("tokenizer", [EMILIA, ESPEAK], ids=["emilia", "espeak"])
@pytest.mark.parametrize("text", ["", " ", "\n\t  \u3000"])
def test_blank_text_raises_empty_text_error(tokenizer, text):
    assert tokenizer.text_to_tokens(text) == []
    with pytest.raises(EmptyTextError):
        tokenizer.encode(text)


@pytest.mark.parametrize("text", ["😀", "Привет", "\x00\x01", "<abc>", "...", "\u200b"])
def test_nothing_speakable_raises_unspeakable(text):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(UnspeakableTextError):
            EMILIA.encode(text)


def test_control_characters_are_dropped_with_one_warning():
    with pytest.warns(UserWarning) as record:
        ids = EMILIA.encode("Hel\x00lo wor\x07ld\x1b")
    assert len(record) == 1
    message = str(record[0].message)
    assert "\\x00" in message and "\\x07" in message and "\\x1b" in message
    # A NUL must not cut the text short: the words after it are still spoken.
    assert ids == EMILIA.encode("Hello world")


def test_foreign_drop_mode_removes_other_scripts_with_one_warning():
    with pytest.warns(UserWarning) as record:
        tokens = EMILIA_DROP.text_to_tokens("Emoji 😀 and Привет mixed in.")
    assert len(record) == 1
    assert "'😀'" in str(record[0].message) and "'П'" in str(record[0].message)
    assert tokens == EMILIA_DROP.text_to_tokens("Emoji and mixed in.")


def test_emoji_are_dropped_with_one_warning_inside_words_and_alone():
    """One rule for emoji (issue 15): never read out, one warning naming them, whether they stand alone or not."""
    for text, rest in (("a 😀 b", "a b"), ("wait😀👍🏽now", "wait now"), ("😀", None)):
        with pytest.warns(UserWarning) as record:
            tokens = EMILIA.text_to_tokens(text)
        assert len(record) == 1 and "'😀'" in str(record[0].message) and "🏽" not in str(record[0].message)
        if rest is not None:
            assert tokens == EMILIA.text_to_tokens(rest)


def test_dropped_warning_names_what_the_user_typed():
    with pytest.warns(UserWarning) as record:
        EMILIA.text_to_tokens("...")
    assert len(record) == 1 and "'...'" in str(record[0].message) and "…" not in str(record[0].message)


def test_whitespace_and_composed_forms_are_equivalent():
    assert EMILIA.encode("hello\nworld") == EMILIA.encode("hello world")
    assert EMILIA.encode("cafe\u0301") == EMILIA.encode("café")


def test_out_of_vocabulary_tokens_are_kept_as_strings_and_dropped_as_ids():
    tokens = EMILIA.text_to_tokens("[unknown] hi")
    assert tokens[0] == "[unknown]"
    assert EMILIA.tokens_to_ids(tokens) == EMILIA.tokens_to_ids(tokens[1:])


def test_bad_arguments():
    with pytest.raises(TypeError):
        EMILIA.encode(None)  # type: ignore[arg-type]
    with pytest.raises(InvalidOptionError):
        EspeakTokenizer(TOKENS, lang="xx-not-a-voice")
    with pytest.raises(InvalidOptionError):
        EmiliaTokenizer(TOKENS, foreign="skip")  # type: ignore[arg-type]
    with pytest.raises(InvalidOptionError):
        EmiliaTokenizer(42)  # type: ignore[arg-type]


def test_vocab_from_a_mapping():
    tokenizer = EmiliaTokenizer({"_": 0, "h": 1, "ə": 2})
    assert (tokenizer.vocab_size, tokenizer.pad_id) == (3, 0)
    assert tokenizer.encode("hello") == [1, 2]


def test_text_package_does_not_import_torch():
    import subprocess
    import sys
    from pathlib import Path

    code = "import sys, luxtts.text; assert 'torch' not in sys.modules, 'torch imported'"
    root = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-c", code], cwd=root, check=True)


def test_bad_vocab_mapping():
    from luxtts.errors import ConfigError

    with pytest.raises(ConfigError):
        EmiliaTokenizer({"_": "0", "a": 1})
    with pytest.raises(ConfigError):
        EmiliaTokenizer({"a": 0})
