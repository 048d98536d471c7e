"""A real server for tests: uvicorn on 127.0.0.1, a free port, in a background thread of the test process."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import Iterator

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def live_server(settings, tts=None, ready_timeout: float = 120.0) -> Iterator[str]:
    """Serve ``create_app(settings, tts)`` and yield its base URL once /ready says so; stop it afterwards."""
    import uvicorn

    from luxtts.server.app import create_app

    app = create_app(settings, tts)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=settings.port, log_level="warning",
                                           timeout_graceful_shutdown=30))
    thread = threading.Thread(target=server.run, name="luxtts-test-server", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{settings.port}"
    deadline = time.monotonic() + ready_timeout
    while True:
        try:
            if httpx.get(url + "/ready", timeout=5).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or not thread.is_alive():
            server.should_exit = True
            raise RuntimeError(f"the test server at {url} did not become ready")
        time.sleep(0.05)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(60)
