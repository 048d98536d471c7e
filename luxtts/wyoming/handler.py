"""One Wyoming connection: ``describe`` -> ``info``; ``synthesize`` -> audio-start, audio-chunk..., audio-stop, sent
as the model makes each chunk; the streaming form (wyoming 1.5+) ``synthesize-start``, ``synthesize-chunk``...,
``synthesize-stop`` -> the same audio, each sentence spoken once it is complete, then ``synthesize-stopped``.

Any mistake is answered with an ``error`` event (a code and a message), after which the connection is closed, as
wyoming-piper does: a client waiting for audio learns at once that none will come. Other connections, and the
server, go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Optional

from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event, async_write_event
from wyoming.info import Describe
from wyoming.ping import Ping, Pong
from wyoming.server import AsyncEventHandler
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop, SynthesizeStopped

from .events import BadEvent, read_event
from .sentences import SentenceBuffer
from .service import CHANNELS, SAMPLE_WIDTH, RequestError, WyomingService

logger = logging.getLogger("luxtts.wyoming")
# One synthesize event's text: about 20 minutes of speech, far more than an assistant's answer.
MAX_TEXT = 20_000
LINGER_SECONDS = 2.0


class _Stream:
    """A streaming request between synthesize-start and synthesize-stop."""

    def __init__(self, prompt) -> None:
        self.prompt = prompt
        self.sentences = SentenceBuffer()
        self.started = False  # audio-start sent


class LuxTTSEventHandler(AsyncEventHandler):
    def __init__(self, service: WyomingService, info_event, reader, writer) -> None:
        super().__init__(reader, writer)
        self.service = service
        self.info_event = info_event  # callable: () -> awaitable Event
        self._stream: Optional[_Stream] = None

    async def run(self) -> None:
        """Read events until the peer closes or a mistake was answered (the library's loop drops the connection
        on a malformed event without a word)."""
        try:
            while True:
                try:
                    event = await read_event(self.reader)
                    if event is None or not await self.handle_event(event):
                        break
                except (BadEvent, RequestError) as exc:
                    logger.info("answered an error (%s): %s", exc.code, exc)
                    await self.write_event(Error(text=str(exc), code=exc.code).event())
                    await self._linger()
                    break
        except (ConnectionError, BrokenPipeError):
            pass  # the client left: a job of it has been cancelled on the way out
        finally:
            self.writer.close()

    async def _linger(self) -> None:
        """Half-close, then read and drop what the client still sends for a moment: closing a socket that has
        unread input sends a reset, which can destroy the error event before the client has read it."""
        if self.writer.can_write_eof():
            self.writer.write_eof()

        async def drain() -> None:
            while await self.reader.read(64 * 1024):
                pass

        with contextlib.suppress(asyncio.TimeoutError, ConnectionError, ValueError):
            await asyncio.wait_for(drain(), LINGER_SECONDS)

    async def write_event(self, event: Event) -> None:
        await async_write_event(event, self.writer)

    async def handle_event(self, event: Event) -> bool:
        if Describe.is_type(event.type):
            await self.write_event(await self.info_event())
        elif Ping.is_type(event.type):
            await self.write_event(Pong(text=_optional_str(event, "text")).event())
        elif Synthesize.is_type(event.type):
            # inside a stream it is the same text again, sent for servers that do not stream: spoken once
            if self._stream is None:
                await self._synthesize(event)
        elif SynthesizeStart.is_type(event.type):
            if self._stream is not None:
                raise BadEvent("synthesize-start inside a stream that is not stopped yet", "bad_sequence")
            prompt = await self.service.prompt(_voice_name(event))
            self._stream = _Stream(prompt)
        elif SynthesizeChunk.is_type(event.type):
            stream = self._in_stream(event)
            await self._say(stream, stream.sentences.add(_text(event)))
        elif SynthesizeStop.is_type(event.type):
            stream = self._in_stream(event)
            await self._say(stream, stream.sentences.finish())
            self._stream = None
            if stream.started:
                await self.write_event(AudioStop().event())
            await self.write_event(SynthesizeStopped().event())
        else:
            logger.debug("ignored a %r event", event.type[:40])
        return True

    def _in_stream(self, event: Event) -> _Stream:
        if self._stream is None:
            raise BadEvent(f"{event.type} outside a stream: send synthesize-start first", "bad_sequence")
        return self._stream

    async def _synthesize(self, event: Event) -> None:
        text = _text(event)
        if not text.strip():
            raise RequestError("'text' is empty: give at least one word to speak", "invalid_text")
        prompt = await self.service.prompt(_voice_name(event))
        stream = _Stream(prompt)
        await self._say(stream, text)
        if not stream.started:
            await self._start()
        await self.write_event(AudioStop().event())

    async def _say(self, stream: _Stream, text: str) -> None:
        if not text.strip():
            return
        rate = self.service.options.sample_rate
        step = self.service.options.samples_per_chunk * SAMPLE_WIDTH
        async with contextlib.aclosing(self.service.speak(text, stream.prompt)) as pieces:
            async for pcm in pieces:
                if not stream.started:
                    await self._start()
                    stream.started = True
                for at in range(0, len(pcm), step):
                    chunk = AudioChunk(rate=rate, width=SAMPLE_WIDTH, channels=CHANNELS, audio=pcm[at:at + step])
                    await self.write_event(chunk.event())

    async def _start(self) -> None:
        rate = self.service.options.sample_rate
        await self.write_event(AudioStart(rate=rate, width=SAMPLE_WIDTH, channels=CHANNELS).event())


def _text(event: Event) -> str:
    value = event.data.get("text")
    if not isinstance(value, str):
        raise BadEvent(f"{event.type}: 'text' must be a string, got {type(value).__name__}", "bad_event")
    if len(value) > MAX_TEXT:
        raise RequestError(f"{event.type}: 'text' is {len(value)} characters; the most accepted is {MAX_TEXT}",
                           "text_too_long")
    return value


def _optional_str(event: Event, field: str) -> Optional[str]:
    value = event.data.get(field)
    return value if isinstance(value, str) else None


def _voice_name(event: Event) -> Optional[str]:
    """``voice.name`` (None: the default voice). A voice given only by language means the default voice too:
    every voice speaks every language the model reads."""
    voice = event.data.get("voice")
    if voice is None:
        return None
    if not isinstance(voice, dict):
        raise BadEvent(f"{event.type}: 'voice' must be an object such as {{\"name\": \"alice\"}}, got "
                       f"{type(voice).__name__}", "bad_event")
    name = voice.get("name")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise BadEvent(f"{event.type}: 'voice.name' must be a non-empty string, got {name!r:.60}", "bad_event")
    return name
