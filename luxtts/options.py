"""Per-call synthesis settings. ``None`` means "the model's default" (see :class:`ModelDefaults`).

No torch here: the command line validates its arguments with this module before loading anything heavy.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Mapping, Optional

from .errors import InvalidOptionError, brief
from .inputs import as_float, as_int

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
        # Integer-like values (numpy ints) are stored as Python ints, floats as floats, so that options compare
        # and serialise the same whatever produced them.
        checked = {
            "num_steps": as_int("num_steps", self.num_steps, 1, MAX_STEPS, none_ok=True),
            "guidance_scale": as_float("guidance_scale", self.guidance_scale, 0.0, strict=False, none_ok=True),
            "t_shift": as_float("t_shift", self.t_shift, 0.0, strict=True, none_ok=True),
            "speed": as_float("speed", self.speed, 0.0, strict=True, none_ok=True),
            "seed": as_int("seed", self.seed, 0, MAX_SEED, none_ok=True),
        }
        for name, value in checked.items():
            object.__setattr__(self, name, value)

    @classmethod
    def coerce(cls, options: object) -> "SynthesisOptions":
        """``options`` as SynthesisOptions: None, a SynthesisOptions, or a mapping of its field names."""
        if options is None:
            return cls()
        if isinstance(options, cls):
            return options
        if isinstance(options, Mapping):
            return cls().replace(**{str(k): v for k, v in options.items()})
        raise InvalidOptionError(
            f"options must be a SynthesisOptions, a dict of its fields ({', '.join(_FIELDS)}) or None, "
            f"got {type(options).__name__}"
        )

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
        unknown = sorted(set(changes) - set(_FIELDS))
        if unknown:
            raise InvalidOptionError(f"unknown synthesis option(s) {brief(unknown)}; accepted: {list(_FIELDS)}")
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


_FIELDS = tuple(f.name for f in dataclasses.fields(SynthesisOptions))
