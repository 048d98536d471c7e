"""English text normalisation for WER/CER, applied alike to the target text and to what ASR heard.

Lower case; curly quotes and dashes made plain; contractions expanded ("it's" -> "it is", "won't" ->
"will not"); numbers, currency, percentages and abbreviations spelled out by the synthesis front end
(:func:`luxtts.text.normalize_english`, so "$12.50" and "twelve dollars fifty cents" agree); hyphens become
spaces; every other punctuation mark goes; hesitation fillers ("uh", "um") are dropped. A possessive "'s" that
is not a known contraction just loses its apostrophe ("john's" -> "johns") on both sides.
"""

from __future__ import annotations

import re
import unicodedata

from ..text.normalize_en import normalize_english

# Whole-word forms first (irregular ones), then suffixes.
_WHOLE = (
    ("won't", "will not"), ("can't", "can not"), ("cannot", "can not"), ("shan't", "shall not"),
    ("ain't", "is not"), ("let's", "let us"), ("y'all", "you all"), ("ma'am", "madam"),
    ("o'clock", "of the clock"), ("gonna", "going to"), ("wanna", "want to"), ("gotta", "got to"),
    ("it's", "it is"), ("that's", "that is"), ("what's", "what is"), ("there's", "there is"),
    ("here's", "here is"), ("he's", "he is"), ("she's", "she is"), ("who's", "who is"),
    ("where's", "where is"), ("how's", "how is"), ("when's", "when is"), ("why's", "why is"),
)
_SUFFIXES = (("n't", " not"), ("'re", " are"), ("'ve", " have"), ("'ll", " will"), ("'d", " would"), ("'m", " am"))
_WHOLE_RES = tuple((re.compile(rf"(?<![\w']){re.escape(a)}(?![\w'])"), b) for a, b in _WHOLE)
_SUFFIX_RES = tuple((re.compile(rf"(?<=\w){re.escape(a)}(?![\w'])"), b) for a, b in _SUFFIXES)
_FILLERS = frozenset({"uh", "um", "uhm", "umm", "hmm", "mm", "mhm", "er", "erm", "ah"})

_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u02bc": "'", "`": "'", "\u00b4": "'"})
_DASHES = re.compile(r"[\u2010-\u2015\u2212-]")
_NOT_WORD = re.compile(r"[^\w\s']|_")
_STRAY_APOSTROPHE = re.compile(r"(?<!\w)'|'(?!\w)")


def normalize_for_wer(text: str) -> str:
    """A string of lower-case words separated by single spaces (empty if nothing speakable is left)."""
    text = unicodedata.normalize("NFKC", str(text)).translate(_QUOTES).lower()
    for pattern, replacement in _WHOLE_RES:
        text = pattern.sub(replacement, text)
    for pattern, replacement in _SUFFIX_RES:
        text = pattern.sub(replacement, text)
    # Digits are spelled out before punctuation goes, so that "3.5", "1,000" and "$5" keep their meaning.
    text = normalize_english(text).lower()
    text = _DASHES.sub(" ", text)
    text = _NOT_WORD.sub(" ", text)
    text = _STRAY_APOSTROPHE.sub(" ", text).replace("'", "")
    return " ".join(w for w in text.split() if w not in _FILLERS)
