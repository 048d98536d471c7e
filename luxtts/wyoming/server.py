"""Run the Wyoming server: load the model and open the library once, then serve connections on ``uri``."""

from __future__ import annotations

import asyncio
import logging
from typing import Callable, Optional

from .service import WyomingOptions, WyomingService

logger = logging.getLogger("luxtts.wyoming")


def open_service(settings, options: WyomingOptions, tts=None) -> WyomingService:
    """A started ServerState (store, scheduler, model) wrapped for Wyoming; end it with ``service.close()``."""
    from ..errors import LuxTTSError
    from ..server.state import ServerState

    state = ServerState(settings, tts)
    state.start()
    state.model_call(state.load_model).result()  # on the scheduler's thread, where it will generate
    if state.tts is None:
        state.stop()
        raise LuxTTSError(f"the model did not load: {state.load_error}")
    return WyomingService(state, options)


async def serve(service: WyomingService, uri: str, on_listening: Optional[Callable[[], None]] = None) -> None:
    """Serve until cancelled (or SIGTERM/SIGINT, when run in the main thread). ``on_listening`` is called once the
    socket listens."""
    from wyoming.server import AsyncServer

    from .. import __version__
    from .describe import build_info, languages_of
    from .handler import LuxTTSEventHandler

    languages = languages_of(service.state.tts)

    async def info_event():
        return build_info(await service.voices(), languages, __version__).event()

    server = AsyncServer.from_uri(check_uri(uri))
    await server.start(lambda reader, writer: LuxTTSEventHandler(service, info_event, reader, writer))
    stop = asyncio.Event()
    _on_signals(stop.set)
    if on_listening is not None:
        on_listening()
    logger.info("serving %s on %s", service.state.settings.model, uri)
    try:
        await stop.wait()
    finally:
        await server.stop()


def _on_signals(callback: Callable[[], None]) -> None:
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return  # only the main thread gets signals (a test runs the server in another)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, callback)
        except (NotImplementedError, RuntimeError):  # Windows' event loops take no signal handlers
            pass


def check_uri(uri: str) -> str:
    """``uri`` if the server can listen on it (tcp://HOST:PORT or unix://PATH), else InvalidOptionError."""
    from urllib.parse import urlparse

    from ..errors import InvalidOptionError

    try:
        parsed = urlparse(uri)
        port = parsed.port
    except ValueError as exc:
        raise InvalidOptionError(f"--uri {uri!r} is not a URI ({exc}); use tcp://HOST:PORT or unix://PATH") from None
    if parsed.scheme == "tcp" and parsed.hostname and port is not None:
        return uri
    if parsed.scheme == "unix" and parsed.path:
        return uri
    raise InvalidOptionError(f"--uri {uri!r} is not accepted: use tcp://HOST:PORT (e.g. tcp://127.0.0.1:10200) "
                             "or unix://PATH")
