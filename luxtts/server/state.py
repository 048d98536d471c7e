"""What one app owns: settings, the model, the voice store, the scheduler and the metrics. No module globals,
so a Ray Serve replica (or a test) can hold several apps in one process."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from typing import Any, Callable, Optional

from ..runtime.native import single_openmp_thread
from .body import Slots
from .errors import APIError
from .metrics import Metrics
from .scheduler import Scheduler
from .settings import ServerSettings

logger = logging.getLogger("luxtts.server")


class ServerState:
    def __init__(self, settings: ServerSettings, tts=None) -> None:
        self.settings = settings
        self.tts = tts
        self.store = None
        self.metrics = Metrics()
        self.scheduler: Optional[Scheduler] = None
        self.load_error: Optional[str] = None
        self.draining = False
        self.on_load_error: Optional[Callable[[], None]] = None
        self.uploads = Slots(settings.max_uploads)
        self._voice_thread: Optional[concurrent.futures.ThreadPoolExecutor] = None

    # ------------------------------------------------------------------------------------------ life

    def start(self) -> None:
        """Open the store and the scheduler (cheap; the model loads in :meth:`load_model`)."""
        from ..voices import open_store

        self.store = open_store(self.settings.voices_db)
        self.scheduler = Scheduler(self.metrics, self.settings.max_queue, self.settings.batch_frames)
        # Voices are encoded and loaded here, beside the scheduler's generating thread (not on it: a request's
        # voice must not wait for another's chunk). One thread, whose torch work starts no OpenMP pool.
        self._voice_thread = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="luxtts-voices", initializer=single_openmp_thread)

    def load_model(self) -> None:
        if self.tts is not None:
            return
        from ..pipeline import LuxTTS

        s = self.settings
        try:
            tts = LuxTTS.from_pretrained(s.model, device=s.device, dtype=s.dtype, threads=s.threads,
                                         quantize=s.quantize)
        except Exception as exc:  # noqa: BLE001 - /ready reports it; the process keeps answering
            self.load_error = f"{type(exc).__name__}: {exc}"
            logger.error("model failed to load: %s", self.load_error)
            if self.on_load_error is not None:
                self.on_load_error()
            return
        # The English number reader (inflect) takes seconds to import; pay that before /ready, not in the
        # first request that has a digit in it.
        tts.tokenizer.text_to_tokens("1 2")
        self.tts = tts
        logger.info("model ready: %s", tts.variant)

    def model_call(self, fn: Callable[[], Any]) -> concurrent.futures.Future:
        """``fn()`` on the scheduler's worker thread, where every generation runs (see luxtts.server.scheduler:
        torch's work on a second thread slows all of it); with no scheduler running, at once on this thread."""
        if self.scheduler is not None:
            try:
                return self.scheduler.call(fn)
            except RuntimeError:  # stopped: nothing is generating any more
                pass
        future: concurrent.futures.Future = concurrent.futures.Future()
        try:
            future.set_result(fn())
        except Exception as exc:  # noqa: BLE001 - handed to whoever waits on the future
            future.set_exception(exc)
        return future

    async def on_model_thread(self, fn: Callable[[], Any]) -> Any:
        """:meth:`model_call` awaited (with no scheduler running, ``fn`` runs in a thread of the event loop's)."""
        if self.scheduler is None or not self.scheduler.alive:
            return await asyncio.to_thread(fn)
        return await asyncio.wrap_future(self.model_call(fn))

    async def on_voice_thread(self, fn: Callable[[], Any]) -> Any:
        """``fn()`` (a voice to encode, check or load) on the voice thread, awaited."""
        if self._voice_thread is None:
            return await asyncio.to_thread(fn)
        return await asyncio.wrap_future(self._voice_thread.submit(fn))

    def stop(self) -> None:
        self.draining = True
        if self.scheduler is not None:
            self.scheduler.stop()
        if self._voice_thread is not None:
            self._voice_thread.shutdown(wait=True)
        if self.store is not None:
            self.store.close()
            self.store = None

    # ------------------------------------------------------------------------------------------ checks

    @property
    def load_failure(self) -> str:
        """What a client may know of a failed load: the kind of error, not its message (which names paths)."""
        return self.load_error.split(":", 1)[0] if self.load_error else ""

    @property
    def ready(self) -> bool:
        return self.tts is not None and self.store is not None and not self.draining

    def require_model(self):
        if self.draining:
            raise APIError(503, "the server is shutting down; retry on another instance", code="shutting_down",
                           headers={"Retry-After": "5"})
        if self.tts is None:
            why = f" (it failed: {self.load_failure}; the server log says why)" if self.load_error else "; retry shortly"
            raise APIError(503, f"the model is not loaded yet{why}", code="model_not_ready",
                           headers={"Retry-After": "5"})
        return self.tts
