"""What every Wyoming connection shares: the loaded model, the voice library and the scheduler (one ServerState,
as the HTTP server has), and how a text becomes audio through them, piece by piece."""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass
from typing import AsyncIterator, List, Optional

import numpy as np

from ..errors import InvalidOptionError, LuxTTSError, VoiceNotChosenError, VoiceNotFoundError
from ..server.codecs import to_int16
from ..server.scheduler import Done, Job, QueueFull
from ..server.voice_names import load_voice

logger = logging.getLogger("luxtts.wyoming")
SAMPLE_WIDTH = 2  # bytes: 16-bit PCM, what Home Assistant plays
CHANNELS = 1


class RequestError(Exception):
    """A request that cannot be served; answered with an ``error`` event carrying ``code``."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class WyomingOptions:
    """sample_rate: of the audio sent (24000 or 48000). default_voice: for requests that name none.
    samples_per_chunk: most samples per ``audio-chunk`` event (1024, as wyoming-piper sends)."""

    sample_rate: int = 24000
    default_voice: Optional[str] = None
    samples_per_chunk: int = 1024


class WyomingService:
    def __init__(self, state, options: WyomingOptions) -> None:
        self.state = state
        self.options = options

    def close(self) -> None:
        """Finish the admitted jobs, close the library."""
        self.state.stop()

    async def voices(self) -> List:
        """The library's voices (records), read afresh: the library may change while the server runs."""
        return await asyncio.to_thread(self.state.store.list)

    async def prompt(self, requested: Optional[str]):
        """The VoicePrompt of the voice ``requested`` means (luxtts.server.voice_names); RequestError if none."""
        try:
            return await self.state.on_voice_thread(
                lambda: load_voice(self.state.store, requested, self.options.default_voice))
        except VoiceNotChosenError as exc:
            raise RequestError(str(exc), "voice_not_found") from None
        except (VoiceNotFoundError, InvalidOptionError):
            # the store's message names where the library lives; a client hears only about what it asked for
            raise RequestError(f"there is no voice named {str(requested)[:80]!r}; 'describe' lists the voices",
                               "voice_not_found") from None

    async def speak(self, text: str, prompt) -> AsyncIterator[bytes]:
        """16-bit mono PCM of ``text`` in ``prompt``'s voice, one piece per chunk the model makes."""
        tts = self.state.tts
        s = self.state.settings
        rate = self.options.sample_rate

        def factory():
            return tts.plan(text, prompt, sample_rate=rate, chunk_tokens=s.chunk_tokens, chunk_policy=s.chunk_policy)

        job = Job("wy_" + secrets.token_hex(8), factory, rate, asyncio.get_running_loop())
        try:
            self.state.scheduler.submit(job)
        except QueueFull as full:
            raise RequestError(f"the server is busy; retry in {full.retry_after} s", "busy") from None
        try:
            while True:
                item = await job.queue.get()
                if isinstance(item, Done):
                    return
                if isinstance(item, LuxTTSError):
                    raise RequestError(str(item), _code(item))
                if isinstance(item, Exception):
                    logger.error("request %s failed: %s", job.id, type(item).__name__, exc_info=item)
                    raise RequestError(f"synthesis failed (request {job.id})", "synthesis_failed")
                yield to_int16(np.asarray(item)).tobytes()
        finally:
            if not job.finished:
                job.cancel()  # the client left (or a write failed): its remaining chunks are never computed


def _code(exc: LuxTTSError) -> str:
    from ..errors import TextError

    return "invalid_text" if isinstance(exc, TextError) else "invalid_request"
