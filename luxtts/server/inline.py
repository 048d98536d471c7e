"""Voices sent with the speech request itself (``"voice": {"audio": <base64>, "transcript": ...}``, or the
multipart form): encoded for that request only, never stored.

Encoding a prompt costs a model pass or two (and speech recognition without a transcript), and a client that
sends its voice with every request sends the same clip each time: the last few encodings are kept, in memory,
keyed by a hash of the audio and the transcript.
"""

from __future__ import annotations

import collections
import hashlib
import threading
from dataclasses import dataclass
from typing import Callable, Optional

# Encoded prompts kept; each is a few hundred kB (the prompt's features and tokens).
CACHE_SIZE = 32


@dataclass(frozen=True)
class InlineVoice:
    """A request's own voice: the recording's bytes (any upload format) and, optionally, what it says."""

    audio: bytes
    transcript: Optional[str] = None
    # the request fields they came in, for error messages: JSON's voice.audio, or the form's voice file
    audio_field: str = "voice.audio"
    transcript_field: str = "voice.transcript"

    def key(self) -> str:
        digest = hashlib.sha256()
        for part in (self.audio, (self.transcript or "").encode("utf-8")):
            digest.update(hashlib.sha256(part).digest())  # hashed apart: audio|text can't pose as other splits
        return digest.hexdigest()


class PromptCache:
    """A bounded, thread-safe LRU of encoded prompts. ``hits`` and ``misses`` count lookups (for tests)."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self._items: "collections.OrderedDict[str, object]" = collections.OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._items)

    def get_or_encode(self, voice: InlineVoice, encode: Callable[[InlineVoice], object]):
        """The cached prompt of ``voice``, else ``encode(voice)`` (outside the lock: a slow encode does not
        hold up other lookups; two racing encodes of one clip both succeed, one is kept)."""
        key = voice.key()
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return self._items[key]
            self.misses += 1
        prompt = encode(voice)
        with self._lock:
            self._items[key] = prompt
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return prompt
