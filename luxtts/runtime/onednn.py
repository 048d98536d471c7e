"""oneDNN's inner product called directly on the CPU, for float32 and bfloat16 linears (plain weights, and the
blocked ones of :mod:`luxtts.runtime.prepack`); F.linear everywhere else."""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from .modes import tracing

_ONEDNN_DTYPES = (torch.float32, torch.bfloat16)
_failed: set = set()


def note_onednn_failure(dtype: torch.dtype) -> None:
    """oneDNN raised for ``dtype`` (e.g. bfloat16 on a CPU whose build has no kernel for it): plain ops from now."""
    _failed.add(dtype)


def onednn_linear_usable(x: Tensor, weight: Tensor) -> bool:
    """Whether :func:`linear` may use oneDNN for this input and weight. Not for a zero-deep product (x's last
    axis empty): oneDNN refuses to build one, and a refusal would turn it off for that dtype for good."""
    return (
        not tracing()  # first: the rest is opaque to torch.compile
        and x.device.type == "cpu"
        and x.shape[-1] > 0
        and x.dtype == weight.dtype
        and x.dtype in _ONEDNN_DTYPES
        and x.dtype not in _failed
        and not (torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad))
        and torch.backends.mkldnn.is_available()
    )


def onednn_product(x: Tensor, weight: Tensor, bias: Optional[Tensor], residual: Optional[Tensor] = None
                   ) -> Optional[Tensor]:
    """``x @ weight.T + bias (+ residual)`` by oneDNN, the residual added inside its GEMM where the shapes allow,
    for a caller that has checked :func:`onednn_linear_usable`; None (and oneDNN is off for that dtype from then
    on) where oneDNN raised."""
    try:
        if residual is not None and residual.dtype == x.dtype and residual.shape[:-1] == x.shape[:-1]:
            return torch.ops.mkldnn._linear_pointwise.binary(x, residual.contiguous(), weight, bias, "add")
        y = torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")
    except RuntimeError:  # e.g. bfloat16 on a CPU whose oneDNN build has no kernel for it: fall back for good
        note_onednn_failure(x.dtype)
        return None
    return y if residual is None else y.add_(residual)


def linear(x: Tensor, weight: Tensor, bias: Optional[Tensor]) -> Tensor:
    """F.linear, through oneDNN where :func:`onednn_linear_usable` allows. (…, in) -> (…, out)."""
    y = onednn_product(x, weight, bias) if onednn_linear_usable(x, weight) else None
    return F.linear(x, weight, bias) if y is None else y


def linear_add(x: Tensor, weight: Tensor, bias: Optional[Tensor], residual: Tensor) -> Tensor:
    """``residual + linear(x, weight, bias)``, the addition fused into oneDNN's GEMM where possible."""
    y = onednn_product(x, weight, bias, residual) if onednn_linear_usable(x, weight) else None
    return F.linear(x, weight, bias).add_(residual) if y is None else y
