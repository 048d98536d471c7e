"""Connection limits for ``luxtts serve``: a cap on open connections, deadlines for slow senders.

uvicorn closes idle keep-alive connections, but a connection that never completes its first request is held
forever, and nothing caps how many are open: half-sent requests alone could use up the process's file handles.
Here uvicorn's h11 protocol gets three rules:

- the request head (request line and headers) must arrive within ``header_timeout`` seconds of the connection
  opening, or of the previous response on a keep-alive connection;
- while a request body is arriving, the client may be silent for at most ``body_timeout`` seconds (time that
  the server itself stopped reading, for flow control, does not count);
- at most ``max_connections`` are open: a new one beyond that closes the oldest connection that has not yet
  sent a complete request head (those cost nothing to drop: they have asked for nothing yet), or, when every
  open connection is busy with a request, is answered 503 and closed.

So under a flood of half-open connections the server keeps answering: new clients push out the oldest
half-open ones instead of waiting behind them.
"""

from __future__ import annotations

import json
import logging
import resource
from dataclasses import dataclass
from typing import Dict

logger = logging.getLogger("luxtts.server")
_TICK = 1.0


@dataclass(frozen=True)
class ConnectionLimits:
    """The rules above; ServerSettings holds their defaults."""
    max_connections: int
    header_timeout: float
    body_timeout: float
    keep_alive_timeout: float


def raise_open_file_limit() -> int:
    """Raise this process's soft limit on open files to its hard limit; returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = max(soft, 1 << 20)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):  # some sandboxes cap it lower than they report
            pass
    return soft


def protocol_class(limits: ConnectionLimits):
    """A uvicorn h11 protocol class that enforces ``limits`` (one class per server, the limits on it)."""
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    refusal = _refusal_bytes()

    class GuardedH11Protocol(H11Protocol):
        def connection_made(self, transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            now = self.loop.time()
            self._lux_waiting_since = now  # when the connection began waiting for a request head
            self._lux_last_data = now
            pending = _pending(self.server_state)
            pending[self] = None
            if len(self.connections) > limits.max_connections and not self._make_room(pending):
                logger.warning("connection refused: %d connections open (--max-connections)", len(self.connections))
                pending.pop(self, None)
                transport.write(refusal)
                transport.close()
                return
            self._lux_timer = self.loop.call_later(_TICK, self._lux_check)

        def _make_room(self, pending: Dict) -> bool:
            for oldest in pending:
                if oldest is not self:
                    del pending[oldest]
                    logger.debug("closing the oldest connection without a request head to make room")
                    oldest.transport.close()
                    return True
            return False

        def connection_lost(self, exc) -> None:
            _pending(self.server_state).pop(self, None)
            timer = getattr(self, "_lux_timer", None)
            if timer is not None:
                timer.cancel()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            self._lux_last_data = self.loop.time()
            super().data_received(data)

        def handle_events(self) -> None:
            super().handle_events()
            if self.conn.their_state is not h11.IDLE:
                _pending(self.server_state).pop(self, None)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
                self._lux_waiting_since = self.loop.time()
                _pending(self.server_state)[self] = None

        def _lux_check(self) -> None:
            if self.transport.is_closing():
                return
            now = self.loop.time()
            state = self.conn.their_state
            if state is h11.IDLE and now - self._lux_waiting_since > limits.header_timeout:
                logger.debug("closing a connection: no complete request head within %g s", limits.header_timeout)
                self.transport.close()
                return
            if state is h11.SEND_BODY and not self.flow.read_paused \
                    and now - self._lux_last_data > limits.body_timeout:
                logger.info("closing a connection: its request body stalled for %g s", limits.body_timeout)
                self.transport.close()
                return
            self._lux_timer = self.loop.call_later(_TICK, self._lux_check)

    return GuardedH11Protocol


def _pending(server_state) -> Dict:
    """The server's connections still waiting for a request head, oldest first (a dict keeps insertion order)."""
    pending = getattr(server_state, "luxtts_pending", None)
    if pending is None:
        pending = {}
        server_state.luxtts_pending = pending
    return pending


def _refusal_bytes() -> bytes:
    body = json.dumps({"error": {"message": "the server has too many open connections; retry shortly",
                                 "type": "server_error", "param": None, "code": "too_many_connections"}}).encode()
    head = (b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\n"
            b"connection: close\r\ncontent-length: " + str(len(body)).encode() + b"\r\n\r\n")
    return head + body


def uvicorn_config(app, limits: ConnectionLimits, **options):
    """uvicorn's Config for ``app`` with the connection rules above (``options``: host, port, log_level, ...)."""
    import uvicorn

    return uvicorn.Config(app, http=protocol_class(limits), timeout_keep_alive=limits.keep_alive_timeout,
                          h11_max_incomplete_event_size=_MAX_HEAD_BYTES, **options)


# A request head beyond this is refused with 400 (h11's own default, 16 KiB, named here because it is a limit).
_MAX_HEAD_BYTES = 16 * 1024
