"""Settings of the libraries under torch that only their environment variables reach, chosen for luxtts.

Each library reads its variable once, when it first needs it, and never again: oneDNN the primitive cache's
capacity at its first primitive, ideep its cache's at its first convolution, libgomp its spin count when it
loads. ``import luxtts`` sets their defaults (:func:`apply_defaults`) before torch runs anything, so they hold in
the CLI, the server and any program that imports luxtts first; a variable the user has set is never changed.
No module here imports torch: ``import luxtts`` stays cheap.
"""

from __future__ import annotations

import os
from typing import MutableMapping, Optional

# oneDNN reads ONEDNN_* first and the older DNNL_* name after it: a user's DNNL_ value is theirs to keep too.
PRIMITIVE_CACHE_VARS = ("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "DNNL_PRIMITIVE_CACHE_CAPACITY")
IDEEP_CACHE_VAR = "LRU_CACHE_CAPACITY"
SPIN_COUNT_VAR = "GOMP_SPINCOUNT"

# oneDNN keeps a compiled primitive per operation and shape (0.05-0.6 MB each) and ideep, above it, its own entry
# per convolution shape. Every new text length brings new shapes, so a server's memory grew with each new length
# until the caches filled: at 128 each, W1-style int8 generations of 29 different lengths took the process from
# 422 to 499 MB, still rising (AMD Zen 5, 2026-12-08); with ideep's cache at 8 and oneDNN's at 16 it stayed at
# 423 MB. One call needs few of them at a time, so the small caches cost little (see the two constants below).
DEFAULT_PRIMITIVE_CACHE = 128
IDEEP_CACHE = 8
# float32 runs every linear layer through oneDNN, ~20 shapes a decoder step: 16 primitives made it recompile
# 15x as often as 128 (12,464 against 829 creations over 4 generations), so float32 keeps 128. int8's linears
# are luxtts's own kernels; its oneDNN work (bfloat16 attention products, the vocoder's convolutions) needs under
# 8 primitives at a time: 16 created 528 against 429 over 10 generations (+5 ms a generation), and the one pass
# after the bench's other paths peaked at 478-494 MB against 511-536 (2026-12-08, Zen 5).
INT8_PRIMITIVE_CACHE = 16
# libgomp's threads spin 300,000 times at a barrier before they sleep. Where the cores are shared, the spinning
# thread holds the core its late partner needs: with one core taken by another process, W1 int8 one pass took
# 10.2-13.8 s at that default against 10.1-11.1 s at 10,000 (2026-12-04, docs/speed.md).
SPIN_COUNT = 10000

# Names the value luxtts itself put in ONEDNN_PRIMITIVE_CACHE_CAPACITY: luxtts may change its own value later
# (an int8 model lowers it), never one the user set. Kept in the environment, so a child process knows it too.
OWN_VALUE_VAR = "LUXTTS_ONEDNN_PRIMITIVE_CACHE_CAPACITY"


def apply_defaults(environ: MutableMapping[str, str] = os.environ) -> None:
    """Set luxtts's defaults for the variables above where the user has not set them. A capacity luxtts set in a
    parent process (an int8 model's 16) goes back to the default: this process loads models of its own."""
    if _set_by_luxtts(environ) or not any(name in environ for name in PRIMITIVE_CACHE_VARS):
        environ[PRIMITIVE_CACHE_VARS[0]] = environ[OWN_VALUE_VAR] = str(DEFAULT_PRIMITIVE_CACHE)
    environ.setdefault(IDEEP_CACHE_VAR, str(IDEEP_CACHE))
    environ.setdefault(SPIN_COUNT_VAR, str(SPIN_COUNT))


def prefer_primitive_cache(capacity: int, environ: MutableMapping[str, str] = os.environ) -> bool:
    """Ask for oneDNN's primitive cache to hold ``capacity`` primitives, unless the user chose a capacity.

    Takes effect only before the process's first oneDNN primitive (an int8 model asks for it as it starts to
    load, which is first in a program that loads one model); afterwards oneDNN keeps the capacity it read.
    Returns whether the variable was changed.
    """
    value = str(int(capacity))
    if not _set_by_luxtts(environ) or environ[PRIMITIVE_CACHE_VARS[0]] == value:
        return False
    environ[PRIMITIVE_CACHE_VARS[0]] = environ[OWN_VALUE_VAR] = value
    return True


def primitive_cache_lowered(environ: MutableMapping[str, str] = os.environ) -> Optional[int]:
    """The capacity an int8 model of this process lowered oneDNN's cache to, or None (not lowered, or the user's
    own value). A float32 model loaded after it runs with that capacity and rebuilds its primitives often."""
    if not _set_by_luxtts(environ):
        return None
    capacity = int(environ[PRIMITIVE_CACHE_VARS[0]])
    return capacity if capacity < DEFAULT_PRIMITIVE_CACHE else None


def _set_by_luxtts(environ: MutableMapping[str, str]) -> bool:
    current = environ.get(PRIMITIVE_CACHE_VARS[0])
    return (current is not None and environ.get(OWN_VALUE_VAR) == current
            and PRIMITIVE_CACHE_VARS[1] not in environ)
