"""Half precision: the network in bfloat16/float16, the ODE state and sampler arithmetic in float32.

The acoustic model is precision-agnostic: its velocity function casts the float32 state to the weights' dtype
on entry and returns float32, BiasNorm statistics are taken in float32, and the Euler sampler keeps x in
float32. So running in half precision is only a matter of casting the weights.
"""

from __future__ import annotations

from typing import Union

import torch

from ..errors import InvalidOptionError

_NAMES = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
          "float16": torch.float16, "fp16": torch.float16, "half": torch.float16}


def as_dtype(dtype: Union[str, torch.dtype]) -> torch.dtype:
    if isinstance(dtype, torch.dtype) and dtype in _NAMES.values():
        return dtype
    if isinstance(dtype, str) and dtype.lower().removeprefix("torch.") in _NAMES:
        return _NAMES[dtype.lower().removeprefix("torch.")]
    raise InvalidOptionError(f"dtype must be one of {sorted(set(_NAMES))}, got {dtype!r}")


def cast_model(model: torch.nn.Module, dtype: Union[str, torch.dtype]) -> torch.nn.Module:
    """Cast every floating parameter and buffer of ``model`` to ``dtype`` (in place); returns it."""
    return model.to(dtype=as_dtype(dtype))
