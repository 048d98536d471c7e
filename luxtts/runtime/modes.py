"""What the current call is inside of, for the fast paths that only plain inference may take."""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor


def tracing() -> bool:
    """Inside torch.compile, an ONNX export or a TorchScript trace: shapes are symbolic, use plain ops."""
    return torch.compiler.is_compiling() or torch.onnx.is_in_onnx_export() or torch.jit.is_tracing()


def needs_grad(*tensors: Optional[Tensor]) -> bool:
    """Whether autograd records an op on these tensors (training): the fast paths are then bypassed."""
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)
