"""Per-call synthesis settings. ``None`` means "the model's default" (see :class:`ModelDefaults`).

No torch here: the command line validates its arguments with this module before loading anything heavy.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Optional

from .errors import InvalidOptionError

MAX_STEPS = 1000
MAX_SEED = 2**63 - 1


@dataclass(frozen=True)
class ModelDefaults:
    """What a family of checkpoints was tuned for.

    ``speed_factor``: LuxTTS multiplies the requested speed by 1.3 before the model sees it (its authors found
    the distilled model's natural pace too slow); plain ZipVoice uses the speed as given.
    """

    num_steps: int
    guidance_scale: float
    t_shift: float
    speed: float = 1.0
    speed_factor: float = 1.0


LUXTTS_DEFAULTS = ModelDefaults(num_steps=4, guidance_scale=3.0, t_shift=0.5, speed_factor=1.3)
ZIPVOICE_DISTILL_DEFAULTS = ModelDefaults(num_steps=8, guidance_scale=3.0, t_shift=0.5)
ZIPVOICE_DEFAULTS = ModelDefaults(num_steps=16, guidance_scale=1.0, t_shift=0.5)


@dataclass(frozen=True)
class SynthesisOptions:
    """What one call asks for; every field may be None (= the model's default).

    num_steps: Euler steps of the flow-matching sampler (>= 1).
    guidance_scale: classifier-free guidance strength (finite, >= 0).
    t_shift: time-grid warp in (0, inf); < 1 spends more steps near the noise end.
    speed: speaking rate, > 0; 1.0 is the model's pace. LuxTTS models multiply it by 1.3 internally, as
        upstream LuxTTS does, so speed=1.0 here sounds like upstream's speed=1.0.
    seed: integer seed for the initial noise; None draws from torch's global generator.
    """

    num_steps: Optional[int] = None
    guidance_scale: Optional[float] = None
    t_shift: Optional[float] = None
    speed: Optional[float] = None
    seed: Optional[int] = None

    def __post_init__(self) -> None:
        _check_int("num_steps", self.num_steps, 1, MAX_STEPS)
        _check_float("guidance_scale", self.guidance_scale, minimum=0.0, strict=False)
        _check_float("t_shift", self.t_shift, minimum=0.0, strict=True)
        _check_float("speed", self.speed, minimum=0.0, strict=True)
        _check_int("seed", self.seed, 0, MAX_SEED)

    def resolved(self, defaults: ModelDefaults) -> "SynthesisOptions":
        """A copy with every None replaced by ``defaults`` (seed stays as given)."""
        filled = {
            f.name: getattr(defaults, f.name) if getattr(self, f.name) is None else getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name != "seed"
        }
        return SynthesisOptions(seed=self.seed, **filled)

    def replace(self, **changes) -> "SynthesisOptions":
        """A copy with ``changes`` applied; keys that are None leave the field as it is."""
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            accepted = [f.name for f in dataclasses.fields(self)]
            raise InvalidOptionError(f"unknown synthesis option(s) {unknown}; accepted: {accepted}")
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


def _check_int(name: str, value, low: int, high: int) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidOptionError(f"{name} must be an integer from {low} to {high}, got {value!r}")


def _check_float(name: str, value, minimum: float, strict: bool) -> None:
    if value is None:
        return
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value > minimum if strict else value >= minimum)
    if not ok:
        bound = f"> {minimum:g}" if strict else f">= {minimum:g}"
        raise InvalidOptionError(f"{name} must be a finite number {bound}, got {value!r}")
