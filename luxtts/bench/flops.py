"""Exact FLOP counts of a run, by torch's FlopCounterMode, taught the oneDNN linear the model uses on CPUs."""

from __future__ import annotations

import math
from typing import Callable, Dict, Tuple

import torch
from torch.utils.flop_counter import FlopCounterMode, register_flop_formula

_registered = False


def _linear_flops(x_shape, *args, out_shape=None, **kwargs) -> int:
    """Both overloads: (x, w, b, attr, ...) and .binary (x, other, w, b, attr)."""
    w_shape = args[0] if isinstance(args[2], str) else args[1]
    return 2 * math.prod(x_shape[:-1]) * w_shape[0] * w_shape[1]


def _register() -> None:
    global _registered
    if _registered:
        return
    register_flop_formula(torch.ops.mkldnn._linear_pointwise)(_linear_flops)
    _registered = True


def count_flops(fn: Callable[[], object], stages=None) -> Tuple[int, Dict[str, int]]:
    """Run ``fn`` once under a FLOP counter: (total FLOPs, FLOPs per op name).

    ``stages``: a :class:`~luxtts.bench.instrument.Stages` whose wrappers then also add up FLOPs per stage.
    """
    _register()
    counter = FlopCounterMode(display=False)
    if stages is not None:
        stages.counter = counter
    try:
        with counter:
            fn()
    finally:
        if stages is not None:
            stages.counter = None
    per_op = {str(k): int(v) for k, v in counter.get_flop_counts().get("Global", {}).items()}
    return int(counter.get_total_flops()), per_op
