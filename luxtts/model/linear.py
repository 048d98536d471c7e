"""nn.Linear that calls oneDNN's inner product directly on the CPU, and the attention-weighted sum.

On x86 CPUs oneDNN's float32/bfloat16 inner product runs 7-15 % faster than the BLAS call behind
``F.linear`` for this model's shapes (T ~ 300-3000 frames x 48-1920 channels), with the same weights in the
same layout. Everywhere else (GPU, float16, autograd, tracing for export) it is plain ``nn.Linear``. A CPU
LuxTTS goes further and loads most linears as :class:`luxtts.runtime.prepack.PackedLinear`, whose weight is
kept in oneDNN's blocked layout instead of the plain one (another 5-10 %).
"""

from __future__ import annotations

import functools
from typing import Optional

import torch
from torch import Tensor, nn

from ..runtime import native
from ..runtime.cpu import cpu_info
from ..runtime.modes import needs_grad, tracing
from ..runtime.onednn import linear, linear_add, onednn_linear_usable, onednn_product


def version_of(t: Optional[Tensor]) -> int:
    """The tensor's in-place version counter (an optimiser step bumps it), -1 for inference tensors and None."""
    return -1 if t is None or t.is_inference() else t._version


class Linear(nn.Linear):
    """Drop-in nn.Linear (same parameters and state dict keys) computed by :func:`linear`.

    Two constants let the layers around it drop elementwise passes without changing the checkpoint:
    ``output_offset`` is added to every output and ``input_offset`` to every input, both folded into the bias
    (input_offset as ``input_offset * W @ 1``). ``forward(x, residual)`` adds ``residual`` to the product
    inside the GEMM's epilogue on the CPU.
    """

    output_offset: float = 0.0
    input_offset: float = 0.0

    def forward(self, x: Tensor, residual: Optional[Tensor] = None) -> Tensor:
        bias = self.effective_bias()
        if residual is not None:
            return linear_add(x, self.weight, bias, residual)
        return linear(x, self.weight, bias)

    def effective_bias(self) -> Optional[Tensor]:
        if not (self.output_offset or self.input_offset):
            return self.bias
        if needs_grad(self.weight, self.bias):
            return differentiable_folded_bias(self.weight, self.bias, self.input_offset, self.output_offset)
        key = (self.weight.data_ptr(), self.weight.dtype, self.weight.device, version_of(self.weight),
               None if self.bias is None else (self.bias.data_ptr(), version_of(self.bias)))
        cached = self.__dict__.get("_folded")
        if cached is None or cached[0] != key:
            cached = (key, folded_bias(self.weight, self.bias, self.input_offset, self.output_offset))
            self.__dict__["_folded"] = cached
        return cached[1]

    def _load_from_state_dict(self, *args, **kwargs):
        self.__dict__.pop("_folded", None)  # the weights are about to change in place
        return super()._load_from_state_dict(*args, **kwargs)


def folded_bias(weight: Tensor, bias: Optional[Tensor], input_offset: float, output_offset: float) -> Tensor:
    """The bias that makes ``W x + b'`` equal ``W (x + input_offset) + b + output_offset`` (computed in float64)."""
    w = weight.detach().double()
    b = torch.zeros(w.shape[0], dtype=torch.float64, device=w.device) if bias is None else bias.detach().double()
    return (b + output_offset + input_offset * w.sum(dim=1)).to(weight.dtype)


def differentiable_folded_bias(weight: Tensor, bias: Optional[Tensor], input_offset: float,
                               output_offset: float) -> Tensor:
    """:func:`folded_bias` in the weight's dtype with gradients flowing to weight and bias (training)."""
    out = weight.sum(dim=1) * input_offset + output_offset
    return out if bias is None else out + bias


# float32 attention over at least this many keys with value heads narrower than _INNER_PRODUCT_MAX_DIM runs as
# oneDNN inner products (see attend); on AMD every float32 attention product does (see onednn_products_win).
_INNER_PRODUCT_MIN_KEYS = 1100
_INNER_PRODUCT_MAX_DIM = 128


@functools.lru_cache(maxsize=None)
def onednn_products_win() -> bool:
    """Whether the float32 attention products (scores q . k, and the weighted sums of values) go to oneDNN's inner
    product at every length and head width: on AMD CPUs, where torch's matrix product is MKL's and MKL runs its
    slower code. Measured on AMD Zen 5 (2 threads, 2026-12-07, best of 20 calls), oneDNN against torch.matmul / mm:
    the non-linear attention's 384-wide head 3.90 against 7.69 ms at 1364 keys, 1.09 against 1.89 at 682, 0.29
    against 0.48 at 341; four 12-wide heads 1.07 against 3.15, 0.31 against 0.59, 0.13 against 0.17; one head's
    32-deep scores in query blocks 0.49 against 0.73 ms at 1364 (with the copy into the weights), 0.12 against
    0.18 at 682. On Intel MKL is the faster one below ~1000 keys (see attend). Decided by vendor, not timed, so
    that a run's numbers never depend on a timing."""
    return cpu_info().vendor == "AuthenticAMD"


def attend(weights: Tensor, values: Tensor) -> Tensor:
    """Attention-weighted sum per head: weights (B, H, T, S), values (B, S, H, d) -> (B, T, H * d).

    The values are first made contiguous per head (one copy of S x H x d elements), so that no kernel is
    handed them strided by H * d, where BLAS is slow. Then, measured on a Xeon (1 thread, 2026-11-30): a
    batched matmul is 1.1-1.8x faster than per-head oneDNN inner products in bfloat16, for the non-linear
    attention's one 384-wide head, and for float32 up to ~1000 keys; for float32 beyond that with narrow heads
    (d = 12: 1.3x at 1364 keys, 1.9x at 2700) MKL handles the thin operand poorly and oneDNN's inner product,
    with the values as its (d, S) weight, is the faster one; on AMD CPUs it is at every length and width
    (:func:`onednn_products_win`). bfloat16 weights with float32 values as wide as
    :mod:`luxtts.runtime.native`'s value kernel takes (12, the published models' value heads, and 8, on CPUs with
    AVX-512 BF16) go to that kernel, which also sums in float32 rather than rounding the sums to bfloat16.
    """
    b, h, t, s = weights.shape
    if (weights.dtype == torch.bfloat16 and values.dtype == torch.float32 and weights.device.type == "cpu"
            and values.device.type == "cpu" and weights.is_contiguous() and not tracing()
            and not needs_grad(weights, values)):
        kernels = native.kernels()
        if kernels is not None and values.shape[-1] in kernels.attend_widths:
            return kernels.attend_bf16(weights, values)
    if (weights.dtype == torch.float32
            and (onednn_products_win() or (s >= _INNER_PRODUCT_MIN_KEYS and values.shape[-1] < _INNER_PRODUCT_MAX_DIM))
            and onednn_linear_usable(weights, values)):
        out = _per_head_products(weights, values.permute(0, 2, 3, 1).contiguous())
        if out is not None:
            return out
    # (B, H, S, d) in the weights' dtype: bfloat16 weights (see AttentionWeights.score_dtype) take their values
    # in bfloat16 within the same copy, and the result goes back to the values' dtype.
    per_head = values.transpose(1, 2).to(weights.dtype, memory_format=torch.contiguous_format)
    return torch.matmul(weights, per_head).transpose(1, 2).reshape(b, t, h * values.shape[-1]).to(values.dtype)


def _per_head_products(weights: Tensor, values_t: Tensor) -> Optional[Tensor]:
    """weights (B, H, T, S) float32 times values_t (B, H, d, S), each head's values as oneDNN's (d, S) weight ->
    (B, T, H * d); None where oneDNN refused (it is then off for float32, and the caller takes torch's matmul)."""
    rows = []
    for i in range(weights.shape[0]):
        heads = []
        for j in range(weights.shape[1]):
            y = onednn_product(weights[i, j], values_t[i, j], None)
            if y is None:
                return None
            heads.append(y)
        rows.append(_joined(heads, dim=-1).unsqueeze(0))
    return _joined(rows, dim=0)


def _joined(parts: list, dim: int) -> Tensor:
    """torch.cat, without its copy when there is one part (the non-linear attention's one head, a batch of one)."""
    return parts[0] if len(parts) == 1 else torch.cat(parts, dim=dim)
