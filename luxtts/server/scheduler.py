"""One model, many requests: a bounded set of jobs, served one text chunk at a time, round-robin.

Each job is a ``LuxTTS.stream`` generator; a worker thread advances the jobs in turn, one chunk each (on a
CPU a chunk per model call; on a GPU ``stream`` batches a job's own chunks under its frame budget), so a long
text never holds up a short one for more than a chunk. A job whose client went away is closed on its next
turn: its remaining chunks are never computed.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Callable, Deque, Iterator, Optional

import numpy as np

from ..model.weight_source import release_free_memory
from .metrics import Metrics

logger = logging.getLogger("luxtts.server")

StreamFactory = Callable[[Callable[[int, int], None]], Iterator]


class QueueFull(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__("queue full")
        self.retry_after = retry_after


@dataclass
class Done:
    """The last item of a job's queue: what was made and how long it took."""

    audio_seconds: float
    compute_seconds: float


class Job:
    """One request's generation. Items on ``queue``: np.ndarray pieces, then Done or an Exception."""

    def __init__(self, job_id: str, factory: StreamFactory, sample_rate: int, loop: asyncio.AbstractEventLoop) -> None:
        self.id = job_id
        self.factory = factory
        self.sample_rate = sample_rate
        self.loop = loop
        self.queue: asyncio.Queue = asyncio.Queue()
        self.admitted = time.perf_counter()
        self.cancelled = False
        self.finished = False
        self.started = False
        self.total_chunks: Optional[int] = None
        self.done_chunks = 0
        self.compute = 0.0
        self.samples = 0
        self.first_audio: Optional[float] = None
        self._gen: Optional[Iterator] = None

    def cancel(self) -> None:
        """Called from the event loop when the client has gone; the worker drops the job on its next turn."""
        self.cancelled = True

    def _progress(self, done: int, total: int) -> None:
        self.total_chunks = total
        self.done_chunks = done

    def _send(self, item) -> None:
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)
        except RuntimeError:  # the event loop is closed: nobody is listening any more
            pass


class Scheduler:
    def __init__(self, metrics: Metrics, max_queue: int) -> None:
        self.metrics = metrics
        self.max_queue = max_queue
        self._jobs: Deque[Job] = collections.deque()
        self._admitted = 0
        self._cond = threading.Condition()
        self._stopping = False
        self._chunk_seconds = 1.0  # running estimate for Retry-After
        self._thread = threading.Thread(target=self._run, name="luxtts-scheduler", daemon=True)
        self._thread.start()

    @property
    def admitted(self) -> int:
        return self._admitted

    @property
    def alive(self) -> bool:
        """Whether the worker thread still runs (a health check fails the process when it does not)."""
        return self._thread.is_alive()

    def submit(self, job: Job) -> None:
        with self._cond:
            if self._stopping:
                raise QueueFull(5)
            if self._admitted >= self.max_queue:
                raise QueueFull(self._retry_after())
            self._admitted += 1
            self._jobs.append(job)
            self.metrics.in_flight.inc()
            self.metrics.queue_depth.inc()
            self._cond.notify()

    def _retry_after(self) -> int:
        # every admitted job must get at least one more turn before a slot frees up
        return max(1, math.ceil(self._chunk_seconds * max(self._admitted, 1)))

    def stop(self, timeout: Optional[float] = None) -> None:
        """Finish the admitted jobs, then end the worker thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join(timeout)

    # ------------------------------------------------------------------------------------------ worker

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._jobs and not self._stopping:
                    self._cond.wait()
                if not self._jobs:
                    return
                job = self._jobs.popleft()
            if job.cancelled:
                self._drop(job)
                continue
            if self._step(job):
                with self._cond:
                    self._jobs.append(job)  # back of the line: round-robin

    def _step(self, job: Job) -> bool:
        """Advance ``job`` by one chunk; False when it has ended (finished, failed or dropped)."""
        m = self.metrics
        if not job.started:
            job.started = True
            m.queue_depth.dec()
        before = job.done_chunks
        t0 = time.perf_counter()
        try:
            if job._gen is None:
                # LuxTTS.stream checks its arguments (and tokenizes) when called: a bad input raises here,
                # and must end this job, not the worker thread.
                job._gen = job.factory(job._progress)
            piece = next(job._gen)
        except StopIteration:
            piece = None
        except Exception as exc:  # noqa: BLE001 - handed to the request, which maps it to an HTTP error
            job.compute += time.perf_counter() - t0
            self._end(job, exc)
            return False
        spent = time.perf_counter() - t0
        job.compute += spent
        made = job.done_chunks - before
        if made:
            m.chunks.inc(made)
            self._chunk_seconds = 0.8 * self._chunk_seconds + 0.2 * spent / made
        if piece is None:
            self._end(job, Done(job.samples / job.sample_rate, job.compute))
            return False
        samples = piece.numpy().astype(np.float32, copy=False)
        job.samples += samples.size
        if job.first_audio is None and samples.size:
            job.first_audio = time.perf_counter()
            m.ttfa.observe(job.first_audio - job.admitted)
        job._send(samples)
        return True

    def _end(self, job: Job, item) -> None:
        job.finished = True
        job._gen = None
        if isinstance(item, Done):
            m = self.metrics
            m.latency.observe(time.perf_counter() - job.admitted)
            m.audio_seconds.inc(item.audio_seconds)
            m.compute_seconds.inc(item.compute_seconds)
            if item.audio_seconds > 0:
                m.rtf.observe(item.compute_seconds / item.audio_seconds)
            ttfa = (job.first_audio or time.perf_counter()) - job.admitted
            logger.info("request %s: %.2f s of audio in %d chunk(s), compute %.2f s, first audio after %.3f s",
                        job.id, item.audio_seconds, job.done_chunks, item.compute_seconds, ttfa)
        self._release(job)
        job._send(item)

    def _drop(self, job: Job) -> None:
        if job._gen is not None:
            job._gen.close()
            job._gen = None
        if not job.started:
            self.metrics.queue_depth.dec()
        remaining = (job.total_chunks - job.done_chunks) if job.total_chunks is not None else 0
        job.finished = True
        self.metrics.chunks_cancelled.inc(max(remaining, 0))
        # What the dropped generator held goes back to the OS now, not at the next request's next chunk.
        release_free_memory()
        self._release(job)
        self.metrics.cancelled.inc()  # last: whoever sees it sees the other counts settled
        logger.info("request %s cancelled by its client; %d chunk(s) not generated", job.id, remaining)

    def _release(self, job: Job) -> None:
        with self._cond:
            self._admitted -= 1
        self.metrics.in_flight.dec()
