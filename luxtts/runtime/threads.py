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
