"""Float linear layers with their weights kept in oneDNN's own blocked layout, for CPU inference.

oneDNN's inner product on a plain (out, in) weight first copies it into the blocked layout its kernel reads,
on every call. :class:`PackedLinear` does that once, at load, and drops the plain copy, so memory is unchanged.
Measured on AMD EPYC Zen 4 (2 threads, 2026-12-07): the model's GEMMs 5-10 % faster (1364 x 512 -> 1536:
9.96 against 11.13 ms), W1 one pass in float32 0.935x the time (0.897-1.056, 6 alternating rounds), and the
acoustic model's sums the same bits as the plain oneDNN call's (same kernel, same order of sums).
``$LUXTTS_PREPACK=off`` keeps plain layers.
"""

from __future__ import annotations

import functools
import os
from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import InvalidOptionError
from .modes import needs_grad
from .onednn import onednn_linear_usable, onednn_product

PREPACK_ENV = "LUXTTS_PREPACK"
PREPACK_MODES = ("auto", "off")
_DTYPES = (torch.float32, torch.bfloat16)
# The row count the blocked layout is chosen for. It is a hint, not a limit: any row count runs on the same
# packed weight. 64 was as fast as or faster than 1, 1364 and 4096 over 1-2727 rows (512 -> 1536, Zen 4).
_ROWS_HINT = 64
# Layers narrower than this on either side gain nothing from a blocked layout (the relative-position
# projections, 48 -> 16, whose weight dtype the attention reads on every call, stay plain).
_MIN_FEATURES = 32


def prepack_mode() -> str:
    """$LUXTTS_PREPACK, checked: ``auto`` (pack where oneDNN can) or ``off``."""
    mode = os.environ.get(PREPACK_ENV, "auto").strip().lower()
    if mode not in PREPACK_MODES:
        raise InvalidOptionError(f"${PREPACK_ENV} must be one of {list(PREPACK_MODES)}, got {mode!r}")
    return mode


class PackedLinear(nn.Linear):
    """A frozen nn.Linear for CPU inference, its weight held by oneDNN in blocked layout; (…, in) -> (…, out).

    ``forward(x, residual)`` adds ``residual`` inside the GEMM, as :class:`luxtts.model.linear.Linear` does, whose
    constant offsets are folded into the bias it computes with (:attr:`bias` stays the checkpoint's). Where the
    packed weight cannot serve (autograd, tracing, another dtype or device, an empty input) the weight is
    unpacked for that call. :attr:`weight` is such an unpacked copy: read it, do not train it. ``.to()`` and the
    like unpack it, apply, and pack again where the result is still a CPU weight oneDNN takes; the state dict
    holds the plain weight and bias.
    """

    def __init__(self, linear: nn.Linear) -> None:
        nn.Module.__init__(self)  # nn.Linear's would allocate and initialise a weight of its own
        self.in_features = linear.in_features
        self.out_features = linear.out_features
        self.register_buffer("bias", None if linear.bias is None else linear.bias.detach())
        fold = getattr(linear, "effective_bias", None)
        used = fold() if fold is not None else linear.bias
        self._used_bias = None if used is None else used.detach().contiguous()
        self._hold(linear.weight.detach())

    def _hold(self, weight: Tensor) -> None:
        """Keep ``weight`` packed where oneDNN runs it, plain otherwise."""
        packable = weight.device.type == "cpu" and weight.dtype in _DTYPES and torch.backends.mkldnn.is_available()
        self._weight = (torch.ops.mkldnn._reorder_linear_weight(weight.contiguous(), _ROWS_HINT) if packable
                        else weight)

    @property
    def packed(self) -> bool:
        return self._weight.is_mkldnn

    @property
    def weight(self) -> Tensor:
        return self._weight.to_dense() if self.packed else self._weight

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}, "
                f"packed={self.packed}")

    def forward(self, x: Tensor, residual: Optional[Tensor] = None) -> Tensor:
        bias = self._used_bias
        if self.packed and x.dim() >= 2 and x.numel() and not needs_grad(residual) \
                and onednn_linear_usable(x, self._weight):
            y = onednn_product(x, self._weight, bias, residual)
            if y is not None:
                return y
        y = F.linear(x, self.weight, bias)
        return y if residual is None else y.add_(residual)

    def _apply(self, fn, recurse: bool = True):
        super()._apply(fn, recurse)
        if self._used_bias is not None:
            self._used_bias = fn(self._used_bias)
        self._hold(fn(self.weight))
        return self

    def _save_to_state_dict(self, destination, prefix, keep_vars) -> None:
        destination[prefix + "weight"] = self.weight
        super()._save_to_state_dict(destination, prefix, keep_vars)


@functools.lru_cache(maxsize=None)
def can_prepack(dtype: torch.dtype) -> bool:
    """Whether this torch build packs and runs ``dtype`` linears through oneDNN on this CPU."""
    if dtype not in _DTYPES or not torch.backends.mkldnn.is_available():
        return False
    try:
        probe = PackedLinear(nn.Linear(_MIN_FEATURES, _MIN_FEATURES, dtype=dtype))
        with torch.no_grad():
            probe(torch.ones(2, _MIN_FEATURES, dtype=dtype))
    except (RuntimeError, NotImplementedError):  # e.g. bfloat16 where oneDNN has no kernel for this CPU
        return False
    return True


def prepack_transform(dtype: torch.dtype, keep: Callable[[str], bool] = lambda name: False
                      ) -> Optional[Callable[[str, nn.Module], nn.Module]]:
    """``(name, linear) -> module`` for the loaders' ``linear_transform``: each float linear of ``dtype`` at least
    ``_MIN_FEATURES`` wide on both sides becomes a :class:`PackedLinear` as it is loaded, except those ``keep``
    names (layers whose weights the model reads directly). None where packing is off or unavailable."""
    if prepack_mode() == "off" or not can_prepack(dtype):
        return None

    def transform(name: str, linear: nn.Module) -> nn.Module:
        if (not isinstance(linear, nn.Linear) or keep(name) or linear.weight.dtype != dtype
                or linear.weight.device.type != "cpu" or min(linear.in_features, linear.out_features) < _MIN_FEATURES):
            return linear
        return PackedLinear(linear)

    return transform
