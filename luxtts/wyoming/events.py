"""Reading Wyoming events without trusting the peer.

The wyoming library's reader turns any malformed line into "end of stream", so a client that sent garbage would
just see its connection drop. This reader says what was wrong instead (:class:`BadEvent`, answered with an
``error`` event), and bounds what one event may make the server hold in memory.
"""

from __future__ import annotations

import asyncio
import json
from typing import Optional

from wyoming.event import Event

# A TTS server takes text: an event's JSON is small and it carries no binary payload worth keeping.
MAX_LINE = 64 * 1024
MAX_DATA = 1024 * 1024
MAX_PAYLOAD = 1024 * 1024


class BadEvent(Exception):
    """The peer sent something that is not a well-formed Wyoming event; ``code`` is the error event's code."""

    def __init__(self, message: str, code: str = "bad_event") -> None:
        super().__init__(message)
        self.code = code


async def read_event(reader: asyncio.StreamReader) -> Optional[Event]:
    """The next event, or None at the end of the stream; BadEvent for anything malformed."""
    try:
        line = await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial.strip():
            return None
        raise BadEvent("the stream ended inside an event header (no newline)") from None
    except asyncio.LimitOverrunError:
        raise BadEvent(f"an event header is longer than {MAX_LINE} bytes") from None
    header = _json_object(line, "the event header")
    kind = header.get("type")
    if not isinstance(kind, str) or not kind:
        raise BadEvent(f"an event needs a 'type' string, got {_brief(kind)}")
    data = header.get("data", {})
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise BadEvent(f"event {_brief(kind)}: 'data' must be an object, got {type(data).__name__}")
    extra = await _read_block(reader, header, "data_length", MAX_DATA)
    if extra:
        data = {**data, **_json_object(extra, f"event {_brief(kind)}'s data")}
    payload = await _read_block(reader, header, "payload_length", MAX_PAYLOAD)
    return Event(type=kind, data=data, payload=payload or None)


async def _read_block(reader: asyncio.StreamReader, header: dict, field: str, limit: int) -> bytes:
    length = header.get(field)
    if length is None:
        return b""
    if isinstance(length, bool) or not isinstance(length, int) or not 0 <= length <= limit:
        raise BadEvent(f"'{field}' must be an integer from 0 to {limit}, got {_brief(length)}")
    try:
        return await reader.readexactly(length)
    except asyncio.IncompleteReadError:
        raise BadEvent(f"the stream ended before the {length} bytes that '{field}' announced") from None


def _json_object(raw: bytes, what: str) -> dict:
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadEvent(f"{what} is not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise BadEvent(f"{what} must be a JSON object, got {type(value).__name__}")
    return value


def _brief(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
