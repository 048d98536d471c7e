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


class _WidenedOnUse(torch.nn.Module):
    """A weight stored in bfloat16 and handed to its layer in float32 on each use."""

    def forward(self, stored: torch.Tensor) -> torch.Tensor:
        return stored.float()


def store_weights_in_bfloat16(module: torch.nn.Module, min_numel: int = 4096) -> int:
    """Keep the float32 weights (of at least ``min_numel`` elements) of ``module``'s linear and convolution
    layers in bfloat16, widened to float32 for each call: half their memory, the same float32 arithmetic on
    weights rounded to 8 significant bits. Returns how many weights are now stored so."""
    from torch.nn.utils import parametrize

    layers = (torch.nn.Linear, torch.nn.Conv1d, torch.nn.ConvTranspose1d)
    stored = 0
    for layer in list(module.modules()):
        weight = getattr(layer, "weight", None)
        if (isinstance(layer, layers) and not parametrize.is_parametrized(layer, "weight")
                and isinstance(weight, torch.Tensor) and weight.dtype == torch.float32
                and weight.numel() >= min_numel):
            layer.weight = torch.nn.Parameter(weight.detach().to(torch.bfloat16), requires_grad=weight.requires_grad)
            # unsafe: the parametrization's output (float32) is not the stored dtype, which torch checks for
            parametrize.register_parametrization(layer, "weight", _WidenedOnUse(), unsafe=True)
            stored += weight.numel()
    return stored
