"""What one server process is configured with; the command line and Ray Serve both build this."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional, Tuple

from ..errors import InvalidOptionError

API_KEY_ENV = "LUXTTS_API_KEY"
DEFAULT_PORT = 8880


@dataclass(frozen=True)
class ServerSettings:
    """model: a folder or hub id; device/dtype/quantize as LuxTTS.from_pretrained takes them.
    voices_db: None (SQLite under $LUXTTS_HOME), a SQLite path/URL or postgresql://...
    max_queue: requests admitted at once (running or waiting); more get 429.
    api_key: required as ``Authorization: Bearer`` on /v1 when set (None: read $LUXTTS_API_KEY).
    chunk_policy: how a request's text is cut into chunks (luxtts.text.split POLICIES): "first_clause" speaks a
    short first chunk when the text needs several anyway, so that its first audio comes early.
    batch_frames: the frame budget of one model call, batch size x the longest chunk's frames (prompt included):
    chunks of different requests share a call while they fit. None: the device's default (4000 on a GPU, one
    chunk per call on a CPU).
    max_upload_bytes / max_upload_seconds: voice and consent uploads beyond these get 413.
    cors_origins: web origins (``https://app.example``, or ``*``) whose pages may call the API from a browser.
    default_voice: the library voice that requests naming one of OpenAI's built-in voices get (None: the
    library's only voice, when it holds exactly one); see luxtts.server.voice_names.
    max_uploads: voice and consent uploads handled at once; more get 429 with Retry-After before their body is
    kept (each one in flight holds its audio, decoded, in memory).
    max_connections, header_timeout, body_timeout, keep_alive_timeout: the connection rules of
    luxtts.server.connections (a cap on open connections; seconds to send a request head; seconds a request
    body may stall; seconds an idle keep-alive connection stays open).
    allow_open: serve on a non-loopback address without an API key (anyone who reaches the port may then
    create and delete voices); refused unless set.
    """

    model: str = "YatharthS/LuxTTS"
    device: str = "auto"
    dtype: Optional[str] = None
    quantize: Optional[str] = None
    threads: Optional[int] = None
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    voices_db: Optional[str] = None
    max_queue: int = 16
    api_key: Optional[str] = None
    require_consent: bool = False
    max_upload_bytes: int = 20 * 1024 * 1024
    max_upload_seconds: float = 120.0
    max_input_chars: int = 4096
    chunk_tokens: int = 100
    chunk_policy: str = "first_clause"
    batch_frames: Optional[int] = None
    model_name: str = "luxtts"
    cors_origins: Tuple[str, ...] = ()
    default_voice: Optional[str] = None
    max_uploads: int = 2
    max_connections: int = 1000
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    keep_alive_timeout: float = 5.0
    allow_open: bool = False

    def __post_init__(self) -> None:
        for name in ("max_queue", "max_upload_bytes", "max_input_chars", "chunk_tokens", "max_uploads",
                     "max_connections"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidOptionError(f"{name} must be a positive integer, got {value!r}")
        if self.batch_frames is not None and (isinstance(self.batch_frames, bool)
                                              or not isinstance(self.batch_frames, int) or self.batch_frames < 1):
            raise InvalidOptionError(f"batch_frames must be a positive integer or None (the device's default), "
                                     f"got {self.batch_frames!r}")
        from ..text.split import POLICIES

        if self.chunk_policy not in POLICIES:
            raise InvalidOptionError(f"chunk_policy must be one of {', '.join(POLICIES)}, got {self.chunk_policy!r}")
        for name in ("max_upload_seconds", "header_timeout", "body_timeout", "keep_alive_timeout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
                raise InvalidOptionError(f"{name} must be a number of seconds > 0, got {value!r}")
        if isinstance(self.port, bool) or not isinstance(self.port, int) or not 0 <= self.port <= 65535:
            raise InvalidOptionError(f"port must be an integer from 0 to 65535, got {self.port!r}")
        if self.api_key is None and os.environ.get(API_KEY_ENV):
            object.__setattr__(self, "api_key", os.environ[API_KEY_ENV])
        if isinstance(self.cors_origins, str) or not all(isinstance(o, str) and o for o in self.cors_origins):
            raise InvalidOptionError(f"cors_origins must be a tuple of origins such as 'https://app.example', "
                                     f"got {self.cors_origins!r}")
        object.__setattr__(self, "cors_origins", tuple(self.cors_origins))
        if self.api_key == "":
            object.__setattr__(self, "api_key", None)


    @property
    def connection_limits(self):
        from .connections import ConnectionLimits

        return ConnectionLimits(max_connections=self.max_connections, header_timeout=self.header_timeout,
                                body_timeout=self.body_timeout, keep_alive_timeout=self.keep_alive_timeout)

    def check_exposure(self) -> None:
        """Refuse to listen beyond this machine with no API key, unless ``allow_open`` says so."""
        if self.api_key or self.allow_open or is_loopback(self.host):
            return
        raise InvalidOptionError(
            f"refusing to serve on {self.host} without an API key: anyone who reaches the port could use the "
            f"server and delete every voice. Set ${API_KEY_ENV} (or --api-key), or pass --allow-open to serve "
            "openly anyway")


def is_loopback(host: str) -> bool:
    import ipaddress

    if host in ("localhost", "localhost.localdomain", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False
