"""``describe`` -> ``info``: the program and the library's voices, as Home Assistant lists them."""

from __future__ import annotations

from typing import List, Sequence

from wyoming.info import Attribution, Info, TtsProgram, TtsVoice

LUXTTS = Attribution(name="LuxTTS", url="https://github.com/ysharma3501/LuxTTS")
# The default tokenizer reads English and Chinese (espeak-ng en-us and pinyin); a voice is a recording, not a
# language, so every voice speaks what the model reads.
DEFAULT_LANGUAGES = ("en", "zh")


def languages_of(tts) -> List[str]:
    """What the model's tokenizer reads: its espeak-ng language when it has one, else English and Chinese."""
    lang = getattr(getattr(tts, "tokenizer", None), "lang", None)
    return [lang] if isinstance(lang, str) and lang else list(DEFAULT_LANGUAGES)


def build_info(records: Sequence, languages: Sequence[str], version: str) -> Info:
    voices = [TtsVoice(name=r.name, attribution=Attribution(name="luxtts voice library", url=""), installed=True,
                       description=f"{r.name} (cloned voice)", version=None, languages=list(languages))
              for r in records]
    program = TtsProgram(name="luxtts", attribution=LUXTTS, installed=True, version=version,
                         description="LuxTTS zero-shot voice cloning", voices=voices,
                         supports_synthesize_streaming=True)
    return Info(tts=[program])
