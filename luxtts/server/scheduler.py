"""One model, many requests: a bounded set of jobs, served one text chunk at a time, round-robin, with newly
admitted jobs ahead of those already streaming (their first audio waits for the other newcomers only).

Each job is a planned generation (``LuxTTS.plan``). A worker thread takes the jobs in turn; each turn is one
model call (``luxtts.batching.run_batch``) over the next chunk of the job whose turn it is and, on a GPU, the
next chunk of further waiting jobs with the same sampling settings, in queue order, while batch size x longest
chunk's frames stays within the frame budget. So a long text never holds up a short one for more than a chunk,
and concurrent requests share the GPU's calls. A job whose client went away is dropped on its next turn (and
never joins a batch): its remaining chunks are never computed.

The worker thread is also where the model loads (:meth:`Scheduler.call`, run between turns): each thread that
runs torch's parallel ops keeps a pool of OpenMP threads of its own, and two pools on the cores make libgomp give
up spinning at its barriers, after which every chunk took 1.3-1.5x as long (a decoder step 2x at 200 frames;
docs/speed.md, round 13). Voices are encoded and loaded on a thread of one OpenMP thread instead
(ServerState.on_voice_thread), so that a request's voice never waits for another request's chunk.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Deque, List, Optional, Tuple

import numpy as np

from .. import longform
from ..batching import Generation, run_batch
from ..weight_source import release_free_memory
from .metrics import Metrics

logger = logging.getLogger("luxtts.server")

# Checks a request and plans its generation (LuxTTS.plan), in the worker thread: tokenizing is work too.
GenerationFactory = Callable[[], Generation]


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

    def __init__(self, job_id: str, factory: GenerationFactory, sample_rate: int, loop: asyncio.AbstractEventLoop) -> None:
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
        self.gen: Optional[Generation] = None

    def cancel(self) -> None:
        """Called from the event loop when the client has gone; the worker drops the job on its next turn."""
        self.cancelled = True

    def _send(self, item) -> None:
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)
        except RuntimeError:  # the event loop is closed: nobody is listening any more
            pass


def queue_new_job(jobs: Deque[Job], job: Job) -> None:
    """Put a newly admitted job behind the other new ones but ahead of every job that has had a turn.

    Pure round-robin would give a new request its first chunk only after one turn of every admitted request
    (16 turns at --max-queue 16: a minute on two CPU cores at int8); ahead of the started ones it waits only for
    the new requests before it. Started requests lose at most max_queue turns to newcomers, as admission is bounded.
    """
    for i, queued in enumerate(jobs):
        if queued.started:
            jobs.insert(i, job)
            return
    jobs.append(job)


class Scheduler:
    """batch_frames: budget of batch size x longest chunk's frames per model call (None: the device's default,
    ``longform.default_batch_frames``: one chunk per call on a CPU)."""

    def __init__(self, metrics: Metrics, max_queue: int, batch_frames: Optional[int] = None) -> None:
        self.metrics = metrics
        self.max_queue = max_queue
        self.batch_frames = batch_frames
        self._jobs: Deque[Job] = collections.deque()
        self._calls: Deque[Tuple[Callable[[], Any], concurrent.futures.Future]] = collections.deque()
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
            queue_new_job(self._jobs, job)
            self.metrics.in_flight.inc()
            self.metrics.queue_depth.inc()
            self._cond.notify()

    def call(self, fn: Callable[[], Any]) -> concurrent.futures.Future:
        """Run ``fn()`` on the worker thread, ahead of the next turn; its result or exception in the future.
        Calls run in the order given; after :meth:`stop` they are refused (RuntimeError)."""
        future: concurrent.futures.Future = concurrent.futures.Future()
        with self._cond:
            if self._stopping or not self._thread.is_alive():
                raise RuntimeError("the scheduler has stopped")
            self._calls.append((fn, future))
            self._cond.notify()
        return future

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
                while not self._jobs and not self._calls and not self._stopping:
                    self._cond.wait()
                call = self._calls.popleft() if self._calls else None
                if call is None and not self._jobs:
                    return
                lead = self._jobs.popleft() if call is None else None
            if call is not None:
                _run_call(*call)
                continue
            if lead.cancelled:
                self._drop(lead)
                continue
            if not self._plan(lead):
                continue
            batch = [lead] + self._companions(lead)
            alive = self._turn(batch)
            with self._cond:
                self._jobs.extend(alive)  # back of the line, in turn order: round-robin

    def _budget(self, tts) -> int:
        if self.batch_frames is not None:
            return self.batch_frames
        # On a CPU one chunk per call: the matrix products of a single chunk already keep every core busy, so
        # a batch adds padding and memory, not throughput (see longform.CPU_BATCH_FRAMES).
        return longform.default_batch_frames(tts.device.type)

    def _plan(self, job: Job) -> bool:
        """Check and plan ``job``'s generation once; a bad input ends that job (False), not the worker."""
        if job.gen is not None:
            return True
        try:
            job.gen = job.factory()
        except Exception as exc:  # noqa: BLE001 - handed to the request, which maps it to an HTTP error
            self._start(job)
            self._end(job, exc)
            return False
        job.total_chunks = job.gen.total
        job.done_chunks = job.gen.done
        return True

    def _companions(self, lead: Job) -> List[Job]:
        """The jobs (in queue order) whose next chunk shares ``lead``'s model call: same model and sampling
        settings, batch size x longest chunk's frames within the budget. They leave the queue."""
        tts = lead.gen.owner
        budget = self._budget(tts)
        longest = lead.gen.upcoming()[0].total_frames
        if 2 * longest > budget:
            return []
        with self._cond:
            waiting = list(self._jobs)
        chosen: List[Job] = []
        for job in waiting:
            if job.cancelled:  # dropped on its own turn, never computed
                continue
            if job.gen is None and not self._plan(job):
                with self._cond:
                    self._jobs.remove(job)
                continue
            if job.gen.owner is not tts or job.gen.key != lead.gen.key:
                continue
            frames = max(longest, job.gen.upcoming()[0].total_frames)
            if (len(chosen) + 2) * frames > budget:
                continue
            chosen.append(job)
            longest = frames
        with self._cond:
            for job in chosen:
                self._jobs.remove(job)
        return chosen

    def _start(self, job: Job) -> None:
        if not job.started:
            job.started = True
            self.metrics.queue_depth.dec()

    def _turn(self, batch: List[Job]) -> List[Job]:
        """One model call over the next chunk of every job in ``batch``; returns the jobs that go on."""
        m = self.metrics
        for job in batch:
            self._start(job)
        t0 = time.perf_counter()
        try:
            pieces = run_batch(batch[0].gen.owner, [(job.gen, job.gen.upcoming()[0]) for job in batch])
        except Exception as exc:  # noqa: BLE001 - the call failed for all of them; the worker goes on
            share = (time.perf_counter() - t0) / len(batch)
            for job in batch:
                job.compute += share
                self._end(job, exc)
            return []
        share = (time.perf_counter() - t0) / len(batch)
        m.batch_size.observe(len(batch))
        m.chunks.inc(len(batch))
        self._chunk_seconds = 0.8 * self._chunk_seconds + 0.2 * share
        alive = []
        for job, piece in zip(batch, pieces, strict=True):
            job.compute += share  # the call's time, split evenly: the jobs' compute adds up to the model's
            job.done_chunks = job.gen.done
            if job.cancelled:  # its client left during the call: nobody wants this piece
                self._drop(job)
                continue
            if piece.numel():
                samples = piece.numpy().astype(np.float32, copy=False)
                job.samples += samples.size
                if job.first_audio is None:
                    job.first_audio = time.perf_counter()
                    m.ttfa.observe(job.first_audio - job.admitted)
                job._send(samples)
            if job.gen.finished:
                self._end(job, Done(job.samples / job.sample_rate, job.compute))
            else:
                alive.append(job)
        return alive

    def _end(self, job: Job, item) -> None:
        job.finished = True
        job.gen = None
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
        job.gen = None
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


def _run_call(fn: Callable[[], Any], future: concurrent.futures.Future) -> None:
    if not future.set_running_or_notify_cancel():
        return
    try:
        result = fn()
    except BaseException as exc:  # noqa: BLE001 - handed to whoever waits on the future
        future.set_exception(exc)
    else:
        future.set_result(result)
