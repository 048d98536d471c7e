"""Text -> phoneme token strings -> ids, for ZipVoice/LuxTTS models.

``EmiliaTokenizer`` is the front end of the Emilia-trained models (LuxTTS among them): English through
espeak-ng en-us IPA, Chinese through pinyin initials and finals. ``EspeakTokenizer`` is plain espeak-ng
in one language.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Mapping
from typing import Literal

from luxtts.errors import ConfigError, EmptyTextError, InvalidOptionError, TextTypeError, UnspeakableTextError
from luxtts.text.clean import as_typed, clean_text, map_punctuation, warn_dropped
from luxtts.text.normalize_en import normalize_english
from luxtts.text.normalize_zh import normalize_chinese
from luxtts.text.phonemize import check_espeak_voice, espeak_phonemes, pinyin_phonemes, split_pinyin
from luxtts.text.segment import Segment, segment_text
from luxtts.text.vocab import PAD_TOKEN, load_vocab, parse_vocab, tokens_to_ids

VocabSource = str | os.PathLike[str] | Mapping[str, int]
Foreign = Literal["espeak", "drop"]
# What a call could not speak, in order of first appearance (a dict used as an ordered set).
_Dropped = dict[str, None]


class _Tokenizer:
    """Shared id mapping and input checks; subclasses implement `text_to_tokens`."""

    speakable = "words in the tokenizer's language"

    def __init__(self, vocab: VocabSource) -> None:
        self.token_to_id: dict[str, int] = _vocab_from(vocab)
        self.vocab_size: int = len(self.token_to_id)
        self.pad_id: int = self.token_to_id[PAD_TOKEN]

    def text_to_tokens(self, text: str) -> list[str]:
        raise NotImplementedError

    def tokens_to_ids(self, tokens: list[str]) -> list[int]:
        """Ids of `tokens`; tokens missing from the vocabulary are dropped."""
        return tokens_to_ids(tokens, self.token_to_id)

    def encode(self, text: str) -> list[int]:
        """Token ids of `text` (length L); raises EmptyTextError / UnspeakableTextError."""
        _check_text(text)
        ids = self.tokens_to_ids(self.text_to_tokens(text))
        if not ids:
            raise UnspeakableTextError(
                f"text {_preview(text)} gives no token this model knows; it needs {self.speakable}"
            )
        return ids


class EmiliaTokenizer(_Tokenizer):
    """Mixed Chinese/English phoneme tokenizer of the Emilia-trained ZipVoice models.

    `foreign`: "espeak" (default, as the reference) lets espeak-ng read what sits inside English text even
    when it is not English (emoji become their names, Cyrillic is spelled letter by letter); "drop" removes
    such characters with a warning instead.
    """

    speakable = "English or Chinese words, digits, or pinyin such as <zhang1>"

    def __init__(self, vocab: VocabSource, *, foreign: Foreign = "espeak") -> None:
        super().__init__(vocab)
        if foreign not in ("espeak", "drop"):
            raise InvalidOptionError(f"foreign must be 'espeak' or 'drop', got {foreign!r}")
        self.foreign: Foreign = foreign

    def text_to_tokens(self, text: str) -> list[str]:
        """Token strings of `text`, out-of-vocabulary ones included; [] for blank text."""
        original = _check_type(text)
        text, removed = clean_text(text)
        dropped = dict.fromkeys(removed)
        tokens: list[str] = []
        for segment in segment_text(map_punctuation(text)):
            tokens.extend(self._segment_tokens(segment, dropped))
        warn_dropped(as_typed(list(dropped), original))
        return tokens

    def _segment_tokens(self, segment: Segment, dropped: _Dropped) -> list[str]:
        if segment.kind == "tag":
            return [segment.text]
        if segment.kind == "pinyin":
            return self._explicit_pinyin(segment.text, dropped)
        if segment.kind == "zh":
            return pinyin_phonemes(normalize_chinese(self._filter(segment.text, dropped)))
        if segment.kind == "en" or any(c.isascii() and c.isdigit() for c in segment.text):
            # A text of digits and symbols alone ("2024") is read in English rather than skipped.
            return espeak_phonemes(normalize_english(self._filter(segment.text, dropped)), "en-us")
        _note(dropped, [c for c in segment.text if not c.isspace()])
        return []

    def _explicit_pinyin(self, group: str, dropped: _Dropped) -> list[str]:
        phonemes = split_pinyin(group[1:-1])
        if phonemes is None:
            _note(dropped, [group])
            return []
        return phonemes

    def _filter(self, text: str, dropped: _Dropped) -> str:
        if self.foreign == "espeak":
            return text
        foreign = [c for c in text if not _is_readable(c)]
        if not foreign:
            return text
        _note(dropped, foreign)
        return "".join(" " if not _is_readable(c) else c for c in text)


class EspeakTokenizer(_Tokenizer):
    """espeak-ng IPA in one language (`lang` is an espeak-ng voice such as 'en-us', 'de', 'fr-fr')."""

    def __init__(self, vocab: VocabSource, lang: str = "en-us") -> None:
        super().__init__(vocab)
        check_espeak_voice(lang)
        self.lang = lang
        self.speakable = f"words espeak-ng can read with voice {lang!r}"

    def text_to_tokens(self, text: str) -> list[str]:
        """Token strings of `text`, out-of-vocabulary ones included; [] for blank text."""
        _check_type(text)
        text, dropped = clean_text(text)
        warn_dropped(dropped)
        return espeak_phonemes(text, self.lang)


def _vocab_from(vocab: VocabSource) -> dict[str, int]:
    if isinstance(vocab, Mapping):
        bad = [(t, i) for t, i in vocab.items() if not isinstance(t, str) or "\n" in t or type(i) is not int]
        if bad:
            raise ConfigError(f"vocab mapping must map one-line token strings to int ids, got {bad[:3]!r}")
        return parse_vocab([f"{token}\t{token_id}" for token, token_id in vocab.items()], source="vocab mapping")
    if isinstance(vocab, (str, os.PathLike)):
        return load_vocab(vocab)
    raise InvalidOptionError(f"vocab must be a tokens.txt path or a token->id mapping, got {type(vocab).__name__}")


def _check_type(text: object) -> str:
    if not isinstance(text, str):
        hint = ": decode it first" if isinstance(text, (bytes, bytearray)) else ""
        raise TextTypeError(f"text must be a str, got {type(text).__name__}{hint}")
    return text


def _check_text(text: str) -> None:
    if not _check_type(text).strip():
        raise EmptyTextError(f"text is empty or only whitespace ({_preview(text)}); give at least one word to speak")


def _preview(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _note(dropped: _Dropped, items: list[str]) -> None:
    dropped.update(dict.fromkeys(items))


def _is_readable(char: str) -> bool:
    """Characters espeak-ng en-us and pypinyin read as intended: ASCII, Latin letters, CJK, punctuation, numbers."""
    if char.isascii() or "\u4e00" <= char <= "\u9fa5":
        return True
    category = unicodedata.category(char)
    if category[0] in "PNZ" or category in ("Sc", "Sm"):
        return True
    return category[0] in "LM" and unicodedata.name(char, "").startswith(("LATIN", "COMBINING"))
