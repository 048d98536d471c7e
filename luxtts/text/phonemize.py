"""Grapheme-to-phoneme back ends: espeak-ng IPA (via piper-phonemize) and pinyin initials/finals."""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable

from luxtts.errors import InvalidOptionError

# espeak-ng keeps one global voice and one global output buffer.
_ESPEAK_LOCK = threading.Lock()
_TONES = frozenset("12345")


@functools.cache
def _espeak() -> Callable[[str, str], list[list[str]]]:
    from piper_phonemize import phonemize_espeak

    return phonemize_espeak


def espeak_phonemes(text: str, voice: str) -> list[str]:
    """IPA symbols of `text` from espeak-ng, one string per symbol; sentences are joined with nothing between."""
    with _ESPEAK_LOCK:
        sentences = _espeak()(text, voice)
    return [phoneme for sentence in sentences for phoneme in sentence]


def check_espeak_voice(voice: str) -> None:
    """Raise InvalidOptionError unless espeak-ng knows `voice` (e.g. 'en-us', 'de', 'cmn')."""
    if not isinstance(voice, str) or not voice or "\0" in voice:
        raise InvalidOptionError(f"lang must be an espeak-ng voice name such as 'en-us', got {voice!r}")
    try:
        espeak_phonemes("a", voice)
    except RuntimeError:
        raise InvalidOptionError(
            f"lang={voice!r} is not an espeak-ng voice; use a code from espeak-ng's language list, "
            "e.g. 'en-us', 'de', 'fr-fr'"
        ) from None


@functools.cache
def _pinyin_backend() -> tuple[Callable[..., object], Callable[..., list[str]], object]:
    import jieba
    from pypinyin import Style, lazy_pinyin

    # jieba announces its dictionary build at DEBUG level on stderr.
    jieba.setLogLevel(logging.INFO)
    jieba.initialize()
    return jieba.cut, lazy_pinyin, Style.TONE3


def pinyin_phonemes(text: str) -> list[str]:
    """Chinese characters -> initials (suffixed '0') and tone-numbered finals; anything else passes through.

    Words come from jieba so that pypinyin picks word-level readings and applies tone sandhi.
    """
    cut, lazy_pinyin, tone3 = _pinyin_backend()
    words = list(cut(text))
    syllables = lazy_pinyin(words, style=tone3, tone_sandhi=True, neutral_tone_with_five=True)
    phonemes: list[str] = []
    for syllable in syllables:
        parts = split_pinyin(syllable)
        phonemes.extend([syllable] if parts is None else parts)
    return phonemes


def is_pinyin_syllable(syllable: str) -> bool:
    """True for tone3 pinyin: letters followed by one tone digit 1-5 ('zhang1', 'le5')."""
    return len(syllable) >= 2 and syllable[:-1].isalpha() and syllable[-1] in _TONES


def split_pinyin(syllable: str) -> list[str] | None:
    """'zhang1' -> ['zh0', 'ang1'], 'an4' -> ['an4']; None when `syllable` is not tone3 pinyin."""
    if not is_pinyin_syllable(syllable):
        return None
    from pypinyin.contrib.tone_convert import to_finals_tone3, to_initials

    try:
        initial = to_initials(syllable, strict=False)
        final = to_finals_tone3(syllable, strict=False, neutral_tone_with_five=True)
    except Exception:
        return None
    # The '0' keeps pinyin initials apart from espeak symbols with the same letters.
    return ([initial + "0"] if initial else []) + ([final] if final else [])
