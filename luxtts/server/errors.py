"""Errors in OpenAI's JSON shape: ``{"error": {"message", "type", "param", "code"}}``, built in one place."""

from __future__ import annotations

import re
from typing import Dict, Optional

from .. import errors as lux


class APIError(Exception):
    """An HTTP error a client sees; ``param`` names the request field at fault."""

    def __init__(self, status: int, message: str, *, param: Optional[str] = None, code: Optional[str] = None,
                 type: Optional[str] = None, headers: Optional[Dict[str, str]] = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.type = type or _TYPES.get(status, "invalid_request_error")
        self.headers = headers or {}

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


_TYPES = {
    401: "authentication_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "server_error",
    503: "server_error",
}


def bad_request(message: str, param: Optional[str], code: str = "invalid_value") -> APIError:
    return APIError(400, message, param=param, code=code)


def too_long(param: str, length: int, limit: int) -> APIError:
    return bad_request(f"'{param}' is {length} characters; the most accepted is {limit}", param,
                       "string_above_max_length")


def from_luxtts(exc: lux.LuxTTSError, param: Optional[str]) -> APIError:
    """A library error raised by a request's input -> the 4xx that says so, naming the field."""
    if isinstance(exc, lux.TranscriptionUnavailableError):
        return APIError(400, f"'transcript': {exc}", param="transcript", code="transcript_required")
    # the loader names in-memory uploads "<N bytes>"; the field name says more to a client
    message = re.sub(r"^<[^>]*>: ", "", str(exc))
    if param:
        message = f"'{param}': {message}"
    if isinstance(exc, lux.VoiceNotFoundError):
        return APIError(404, message, param=param, code="voice_not_found")
    if isinstance(exc, lux.EmptyAudioError):
        code = "empty_audio"
    elif isinstance(exc, lux.SilentAudioError):
        code = "silent_audio"
    elif isinstance(exc, lux.PromptTooShortError):
        code = "audio_too_short"
    elif isinstance(exc, lux.AudioError):
        code = "invalid_audio"
    elif isinstance(exc, lux.TextError):
        code = "invalid_text"
    else:
        code = "invalid_value"
    return APIError(400, message, param=param, code=code)
