"""A real Wyoming server for tests: ``luxtts.wyoming.server.serve`` on 127.0.0.1, in a background thread with its
own event loop, and the wyoming library's own client to talk to it."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Iterator, List

from server_live import free_port


@contextlib.contextmanager
def live_wyoming(service) -> Iterator[str]:
    """Serve ``service`` on a free port; yield its tcp:// URI; stop it (and its connections) afterwards."""
    from luxtts.wyoming.server import serve

    uri = f"tcp://127.0.0.1:{free_port()}"
    loop = asyncio.new_event_loop()
    listening = threading.Event()
    task_box = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        task = loop.create_task(serve(service, uri, on_listening=listening.set))
        task_box.append(task)
        with contextlib.suppress(asyncio.CancelledError):
            loop.run_until_complete(task)
        loop.close()

    thread = threading.Thread(target=run, name="luxtts-test-wyoming", daemon=True)
    thread.start()
    if not listening.wait(60):
        raise RuntimeError(f"the test Wyoming server at {uri} did not start")
    try:
        yield uri
    finally:
        loop.call_soon_threadsafe(task_box[0].cancel)
        thread.join(60)


async def exchange(uri: str, events, until=("audio-stop", "synthesize-stopped", "error", "info", "pong"),
                   timeout: float = 120.0) -> List:
    """Send ``events`` (wyoming Events) on one connection, then read until an event of a type in ``until`` (that
    one included) or the end of the stream; returns what was read."""
    from wyoming.client import AsyncTcpClient

    host, port = uri.removeprefix("tcp://").split(":")
    async with AsyncTcpClient(host, int(port)) as client:
        for event in events:
            await client.write_event(event)
        return await read_until(client, until, timeout)


async def read_until(client, until, timeout: float = 120.0) -> List:
    got = []
    while True:
        event = await asyncio.wait_for(client.read_event(), timeout)
        if event is None:
            return got
        got.append(event)
        if event.type in until:
            return got
