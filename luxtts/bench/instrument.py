"""Per-stage timing of a loaded LuxTTS, by wrapping the methods the pipeline calls (no pipeline changes)."""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Callable, Dict, List, Optional


class Stages:
    """Seconds (and, when a FLOP counter is attached, FLOPs) spent in the text encoder, each decoder step and
    the vocoder, collected from wrapped methods of ``tts.model`` and ``tts.vocoder``."""

    def __init__(self) -> None:
        self.seconds: Dict[str, float] = defaultdict(float)
        self.flops: Dict[str, int] = defaultdict(int)
        self.steps: List[float] = []
        self.counter = None  # a FlopCounterMode while counting

    def reset(self) -> None:
        self.seconds.clear()
        self.flops.clear()
        self.steps.clear()

    def timed(self, stage: str, fn: Callable, per_call: Optional[List[float]] = None) -> Callable:
        def wrapper(*args, **kwargs):
            f0 = self.counter.get_total_flops() if self.counter is not None else 0
            t0 = time.perf_counter()
            out = fn(*args, **kwargs)
            dt = time.perf_counter() - t0
            self.seconds[stage] += dt
            if per_call is not None:
                per_call.append(dt)
            if self.counter is not None:
                self.flops[stage] += self.counter.get_total_flops() - f0
            return out

        return wrapper

    def attach(self, tts) -> None:
        """Wrap tts.model.text_condition, the velocity functions tts.model.velocity_fn returns, and
        tts.vocoder.decode (instance attributes shadow the class methods the pipeline calls)."""
        model, vocoder = tts.model, tts.vocoder
        model.text_condition = self.timed("text_encoder", model.text_condition)
        make_velocity = model.velocity_fn

        def velocity_fn(*args, **kwargs):
            return self.timed("decoder", make_velocity(*args, **kwargs), self.steps)

        model.velocity_fn = velocity_fn
        vocoder.decode = self.timed("vocoder", vocoder.decode)
