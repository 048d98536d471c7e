"""Thread settings for CPU inference."""

from __future__ import annotations

import os
from typing import Optional


def default_threads() -> int:
    """Cores this process may run on (not the machine's count when a cgroup or affinity mask limits us)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def thread_env(threads: int) -> dict:
    """Environment for a child process that should use ``threads`` threads from its first parallel op."""
    n = str(int(threads))
    return {"OMP_NUM_THREADS": n, "MKL_NUM_THREADS": n, "OPENBLAS_NUM_THREADS": n}


def configure_threads(threads: Optional[int]) -> int:
    """Use ``threads`` intra-op threads (None: one per available core) and one inter-op thread.

    One inter-op thread: the model is a chain of large ops, so a second pool only competes for the cores.
    Returns the intra-op thread count in effect.
    """
    import torch

    if threads is None:
        threads = default_threads()
    from ..inputs import as_int

    threads = as_int("threads", threads, 1)
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass  # already set, or parallel work has started: harmless
    return torch.get_num_threads()


def single_openmp_thread() -> None:
    """Make the calling thread run torch's parallel work on itself alone, without an OpenMP pool of its own.

    For a process's helper threads (a server's voice encoding): each thread that runs torch's parallel operations
    keeps a pool of OpenMP threads while it lives, and with more of them than cores libgomp throttles its spinning
    at every barrier, which made the generating thread 1.3-1.5x slower (docs/speed.md, round 13). A team of one
    starts no thread. Set through libgomp itself, for this thread only: torch.set_num_threads would also change
    the count that threads started later begin with.
    """
    import ctypes

    import torch

    from .native import openmp_runtimes

    torch.get_num_threads()  # torch sets each thread's count on its first use: before ours, not over it
    for path in openmp_runtimes():
        try:
            ctypes.CDLL(path).omp_set_num_threads(1)
        except (OSError, AttributeError):
            pass
