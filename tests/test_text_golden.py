"""Tokenizers against golden/tokenizer and the token ids of golden/pipeline (both discovered from cases.json).

Deliberate differences from the reference: for empty or blank text the reference returns empty lists,
while our ``encode`` raises EmptyTextError (``text_to_tokens`` still returns the reference's empty list); and
emoji are dropped (with a warning) where the reference has espeak-ng read their names inside English text.
For a case with emoji, the rest of the text must still match the reference: the reference's tokens are ours
for the text with each emoji written as its name, and ours for the text itself are those with a space there.
"""

import unicodedata
import warnings

import pytest

from conftest import GOLDEN_DIR, golden_cases, golden_spec
from luxtts.errors import EmptyTextError
from luxtts.text import EmiliaTokenizer, EspeakTokenizer

SUBDIR = "tokenizer"
PIPELINE = "pipeline"


@pytest.fixture(scope="module")
def emilia() -> EmiliaTokenizer:
    return EmiliaTokenizer(GOLDEN_DIR / SUBDIR / golden_spec(SUBDIR)["token_file"])


@pytest.fixture(scope="module")
def espeak() -> EspeakTokenizer:
    spec = golden_spec(SUBDIR)
    return EspeakTokenizer(GOLDEN_DIR / SUBDIR / spec["token_file"], lang=spec["espeak_lang"])


def _is_blank(text: str) -> bool:
    return not text.strip()


def _reference_text(text: str, tokenizer, field: str, case) -> str:
    """``text`` as the reference read it: each emoji spelled out by name. Also checks that ours drops them."""
    from luxtts.text.clean import is_emoji

    if not any(is_emoji(c) for c in text):
        return text
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spaced = "".join(" " if is_emoji(c) else c for c in text)
        assert tokenizer.text_to_tokens(text) == tokenizer.text_to_tokens(spaced)
        assert tokenizer.text_to_tokens(text) != case[field]
    return "".join(f" {unicodedata.name(c).lower()} " if is_emoji(c) else c for c in text)


@pytest.mark.parametrize("case", golden_cases(SUBDIR))
def test_emilia_tokens_and_ids(case, emilia):
    tokens = emilia.text_to_tokens(_reference_text(case["text"], emilia, "emilia_tokens", case))
    assert tokens == case["emilia_tokens"]
    assert emilia.tokens_to_ids(tokens) == case["emilia_ids"]


@pytest.mark.parametrize("case", golden_cases(SUBDIR))
def test_emilia_encode(case, emilia):
    if _is_blank(case["text"]):
        # The reference gives [] here; we refuse blank text instead.
        assert case["emilia_ids"] == []
        with pytest.raises(EmptyTextError):
            emilia.encode(case["text"])
    else:
        assert emilia.encode(_reference_text(case["text"], emilia, "emilia_tokens", case)) == case["emilia_ids"]


@pytest.mark.parametrize("case", [c for c in golden_cases(SUBDIR) if "espeak_tokens" in c.values[0]])
def test_espeak_tokens_and_ids(case, espeak):
    text = _reference_text(case["text"], espeak, "espeak_tokens", case)
    tokens = espeak.text_to_tokens(text)
    assert tokens == case["espeak_tokens"]
    assert espeak.tokens_to_ids(tokens) == case["espeak_ids"]
    if _is_blank(case["text"]):
        assert case["espeak_ids"] == []
        with pytest.raises(EmptyTextError):
            espeak.encode(case["text"])
    else:
        assert espeak.encode(text) == case["espeak_ids"]


def test_vocab_facts(emilia):
    lines = (GOLDEN_DIR / SUBDIR / golden_spec(SUBDIR)["token_file"]).read_text(encoding="utf-8").splitlines()
    assert emilia.vocab_size == len(lines)
    assert emilia.pad_id == emilia.token_to_id["_"]


def _pipeline_tokenizer(case) -> EmiliaTokenizer:
    # The pipeline ran with the model folder named in its case, so its tokens.txt defines the ids.
    return EmiliaTokenizer(GOLDEN_DIR / PIPELINE / case["model"] / "tokens.txt")


@pytest.mark.parametrize("case", golden_cases(PIPELINE))
def test_pipeline_prompt_tokens(case):
    assert _pipeline_tokenizer(case).encode(case["prompt_text"]) == case["prompt_tokens"]


@pytest.mark.parametrize("case", golden_cases(PIPELINE))
def test_pipeline_text_tokens(case):
    assert _pipeline_tokenizer(case).encode(case["text"]) == case["tokens"]
