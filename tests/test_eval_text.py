"""WER/CER text normalisation, error counts and evaluation-list parsing (no audio, no models)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from luxtts.errors import EmptyTextError, EvalListError
from luxtts.eval.items import read_list
from luxtts.eval.metrics import corpus_rates, error_counts
from luxtts.eval.textnorm import normalize_for_wer


@pytest.mark.parametrize("text, expected", [
    # case and punctuation
    ("Hello, World!", "hello world"),
    ("\"Quoted\" words; (brackets) and... dots?", "quoted words brackets and dots"),
    ("well-known — twenty-one", "well known twenty one"),
    # numbers, money, percentages, ordinals, years, decimals
    ("It costs $12.50", "it costs twelve dollars fifty cents"),
    ("about 20% more", "about twenty percent more"),
    ("the 3rd of 12,000 items", "the third of twelve thousand items"),
    ("In 1999", "in nineteen ninety nine"),
    ("2.5 kg", "two point five kg"),
    ("at 3:45 pm", "at three forty five pm"),
    # contractions, curly apostrophes, possessives
    ("It's fine, isn't it?", "it is fine is not it"),
    ("We won’t go; they're here, I'd've known", "we will not go they are here i would have known"),
    ("I can't; you cannot", "i can not you can not"),
    ("Let's see John's car", "let us see johns car"),
    ("'quoted' rock 'n' roll", "quoted rock n roll"),
    # abbreviations and fillers
    ("Mr. Smith, um, met Dr. Who", "mister smith met doctor who"),
    ("", ""),
    ("?!", ""),
])
def test_normalize_for_wer(text, expected):
    assert normalize_for_wer(text) == expected


@given(st.text(alphabet=st.sampled_from(list("abcxyz ABC 0123456789 .,!?'’-$%:;\"()é")), max_size=60))
@settings(max_examples=200, deadline=None)
def test_normalize_is_idempotent_and_plain(text):
    once = normalize_for_wer(text)
    assert normalize_for_wer(once) == once
    assert once == once.lower() and "  " not in once and once == once.strip()
    assert not any(ch.isdigit() and ch.isascii() for ch in once)


def test_written_and_spoken_forms_score_zero_errors():
    counts = error_counts("It's 20% off: $5!", "it is twenty percent off five dollars")
    assert (counts.word_errors, counts.char_errors) == (0, 0)
    assert counts.ref_words == 7 and counts.wer == 0.0


def test_error_counts_are_edit_distances():
    counts = error_counts("the cat sat on the mat", "The cat sat on a hat today.")
    assert counts.ref_words == 6
    assert counts.word_errors == 3  # two substitutions and one insertion
    assert counts.wer == pytest.approx(0.5)
    assert 0 < counts.cer < counts.wer
    assert error_counts("one two", "").wer == 1.0


def test_empty_reference_is_an_error():
    with pytest.raises(EmptyTextError, match="no words"):
        error_counts("?!", "anything")


def test_corpus_rates_weigh_every_word_the_same():
    rows = [error_counts("a b c d e f g h i j", "a b c d e f g h i j").as_dict(), error_counts("x y", "z").as_dict()]
    rates = corpus_rates(rows)
    assert rates["wer"] == pytest.approx(2 / 12)
    assert corpus_rates([]) == {"wer": None, "cer": None}


# ---------------------------------------------------------------------------------------------- lists


def test_pipe_list_resolves_relative_paths(tmp_path):
    (tmp_path / "wavs").mkdir()
    lst = tmp_path / "meta.lst"
    lst.write_text("# comment\nu1|Prompt words.|wavs/p.wav|Target words.\n\nu-2||/abs/q.wav|Other.\n", encoding="utf-8")
    items = read_list(lst)
    assert [i.id for i in items] == ["u1", "u-2"]
    assert items[0].prompt_wav == tmp_path / "wavs" / "p.wav"
    assert str(items[1].prompt_wav) == "/abs/q.wav" and items[1].prompt_text == ""
    assert items[0].target_text == "Target words."


def test_jsonl_list(tmp_path):
    lst = tmp_path / "items.jsonl"
    rows = [{"id": "a", "prompt_text": "P", "prompt_wav": "a.wav", "target_text": "T"},
            {"id": "b", "prompt_wav": "b.wav", "target_text": "U"}]
    lst.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    items = read_list(lst)
    assert [(i.id, i.prompt_text, i.prompt_wav.name) for i in items] == [("a", "P", "a.wav"), ("b", "", "b.wav")]


@pytest.mark.parametrize("name, content, match", [
    ("l.txt", "a|b|c\n", "expected 4 fields"),
    ("l.txt", "a|p|x.wav|t\na|p|y.wav|u\n", "appears twice"),
    ("l.txt", "../x|p|x.wav|t\n", "must start with a letter"),
    ("l.txt", "a|p|x.wav|  \n", "target_text is empty"),
    ("l.txt", "\n# nothing\n", "no items"),
    ("l.jsonl", "{not json}\n", "not valid JSON"),
    ("l.jsonl", '{"id": "a", "prompt_wav": "x.wav"}\n', "missing key"),
    ("l.jsonl", '{"id": 3, "prompt_wav": "x.wav", "target_text": "t"}\n', "must be strings"),
])
def test_bad_lists_say_where(tmp_path, name, content, match):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(EvalListError, match=match) as info:
        read_list(path)
    assert str(path) in str(info.value)


def test_missing_list(tmp_path):
    with pytest.raises(EvalListError, match="no such file"):
        read_list(tmp_path / "nope.txt")
