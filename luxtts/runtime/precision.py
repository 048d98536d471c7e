"""Half precision: the network in bfloat16/float16, the ODE state and sampler arithmetic in float32.

The acoustic model is precision-agnostic: its velocity function casts the float32 state to the weights' dtype
on entry and returns float32, BiasNorm statistics are taken in float32, and the Euler sampler keeps x in
float32. So running in half precision is only a matter of casting the weights.
"""

from __future__ import annotations

import math
from typing import Union

import torch

from ..devices import resolve_dtype


def cast_model(model: torch.nn.Module, dtype: Union[str, torch.dtype]) -> torch.nn.Module:
    """Cast every floating parameter and buffer of ``model`` to ``dtype`` (in place); returns it."""
    return model.to(dtype=resolve_dtype(dtype))


def snr_db(got, want) -> float:
    """Signal-to-noise ratio of ``got`` against the reference ``want``, in dB (inf when equal)."""
    got, want = torch.as_tensor(got).float(), torch.as_tensor(want).float()
    noise = (got - want).pow(2).sum().item()
    return math.inf if noise == 0 else 10 * math.log10(want.pow(2).sum().item() / noise)
