"""What the voice library hands out: immutable records, and the checks on what goes in (names and ids: names.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from ..errors import InvalidOptionError

_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8}){0,3}\Z")
MAX_FILENAME = 255
MAX_TRANSCRIPT = 20_000
MAX_CONSENT_NAME = 256


@dataclass(frozen=True)
class VoiceRecord:
    """One voice of the library (without its audio and prompt, which are loaded on demand).

    created_at: unix seconds. vocab_sha256: fingerprint of the token table the prompt was encoded with.
    imported_from: set only on rows that development versions of luxtts imported from voice files, which have no
    original recording; None for every voice added since.
    """

    id: str
    name: str
    created_at: int
    transcript: str
    consent_id: Optional[str]
    audio_filename: str
    vocab_sha256: Optional[str]
    imported_from: Optional[str] = None

    @property
    def has_audio(self) -> bool:
        return self.imported_from is None


@dataclass(frozen=True)
class AliasRecord:
    """Another name for a voice: requests for ``alias`` speak in the voice ``voice_name`` (id ``voice_id``)."""

    alias: str
    voice_id: str
    voice_name: str
    created_at: int


@dataclass(frozen=True)
class ConsentRecord:
    """A recorded statement of consent, referenced by the voices made with it."""

    id: str
    name: Optional[str]
    language: str
    created_at: int
    audio_filename: str


def short(value: object, limit: int = 40) -> str:
    """repr of a user value, cut so that a 10,000-character name cannot flood a message or a log."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(value) if isinstance(value, str) else '?'} characters)"


def check_audio(audio: object, what: str) -> bytes:
    if not isinstance(audio, (bytes, bytearray, memoryview)):
        raise InvalidOptionError(f"{what} must be bytes (the uploaded file), got {type(audio).__name__}")
    data = bytes(audio)
    if not data:
        raise InvalidOptionError(f"{what} is empty (0 bytes)")
    return data


def check_filename(filename: object, what: str) -> str:
    """Kept only as a label: it never becomes a path, but is shown back, so it must be printable and short."""
    if not isinstance(filename, str):
        raise InvalidOptionError(f"{what} must be a string, got {type(filename).__name__}")
    if len(filename) > MAX_FILENAME or any(ord(c) < 32 or ord(c) == 127 for c in filename):
        raise InvalidOptionError(
            f"{what} {short(filename)} is not allowed: at most {MAX_FILENAME} printable characters"
        )
    return filename


def check_text(text: object, what: str, limit: int) -> str:
    if not isinstance(text, str):
        raise InvalidOptionError(f"{what} must be a string, got {type(text).__name__}")
    if len(text) > limit or "\x00" in text:
        raise InvalidOptionError(f"{what} is not allowed: at most {limit} characters and no NUL (got {len(text)})")
    return text


def check_language(language: object) -> str:
    if not isinstance(language, str) or not _LANGUAGE.match(language):
        raise InvalidOptionError(
            f"consent language {short(language)} is not a language tag: use e.g. 'en', 'en-US' or 'zh-Hans'"
        )
    return language
