"""Is anyone else using the CPU? Other processes (or containers) on a small machine distort timings badly:
with 2 threads on 2 cores, one busy neighbour can make a step 10x slower. Measure, and retry when disturbed."""

from __future__ import annotations

import os
import time
from typing import Callable, Optional, Tuple

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _machine_busy_seconds() -> Optional[float]:
    """CPU seconds all processes on the machine have spent busy (user+nice+system+irq+softirq+steal)."""
    try:
        fields = open("/proc/stat").readline().split()[1:]
    except OSError:
        return None
    vals = [int(v) for v in fields]
    busy = vals[0] + vals[1] + vals[2] + vals[5] + vals[6] + (vals[7] if len(vals) > 7 else 0)
    return busy / _TICK


def _own_seconds() -> float:
    t = os.times()
    return t.user + t.system


class Disturbance:
    """Context manager: after exit, ``foreign`` = CPU-seconds used by other processes per wall second."""

    def __enter__(self) -> "Disturbance":
        self._busy = _machine_busy_seconds()
        self._own = _own_seconds()
        self._wall = time.perf_counter()
        self.foreign: Optional[float] = None
        return self

    def __exit__(self, *exc) -> None:
        busy = _machine_busy_seconds()
        wall = time.perf_counter() - self._wall
        if busy is None or self._busy is None or wall <= 0:
            return
        foreign = (busy - self._busy) - (_own_seconds() - self._own)
        self.foreign = max(0.0, foreign) / wall


def wait_for_quiet(max_foreign: float = 0.1, window: float = 1.0, timeout: float = 120.0) -> Optional[float]:
    """Sleep until other processes use less than ``max_foreign`` cores over ``window`` seconds (or timeout).

    Returns the last measured foreign load (None if unknown).
    """
    deadline = time.monotonic() + timeout
    while True:
        with Disturbance() as d:
            time.sleep(window)
        if d.foreign is None or d.foreign < max_foreign or time.monotonic() > deadline:
            return d.foreign


def measure(fn: Callable[[], object], max_foreign: float = 0.1, tries: int = 3,
            wait: bool = True) -> Tuple[object, float, Optional[float]]:
    """Run ``fn`` until a run sees little foreign CPU use (at most ``tries`` times; first waits for quiet
    unless ``wait`` is False).

    Returns (fn's result, wall seconds, foreign load during that run). The least disturbed run is kept.
    """
    best = None
    for _ in range(max(1, tries)):
        if wait:
            wait_for_quiet(max_foreign)
        with Disturbance() as d:
            t0 = time.perf_counter()
            out = fn()
            dt = time.perf_counter() - t0
        cand = (out, dt, d.foreign)
        if best is None or (d.foreign or 0) < (best[2] or 0):
            best = cand
        if d.foreign is None or d.foreign < max_foreign:
            break
    return best
