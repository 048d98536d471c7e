"""The precision of attention in int8 models: bfloat16 where the CPU multiplies bfloat16 natively.

An int8 model's linear layers take float32 in and give float32 out; its attention (the scores, their softmax
and the weighted sums of values) has no weights to quantize and stayed in float32, ~1/3 of an int8 pass. Its
products are thin (32-wide query heads, 4-wide position heads, 12-wide value heads), where float32 GEMMs are far
from peak. On a CPU with AVX-512 BF16 or AMX-BF16 the same products in bfloat16 ran 2.2-5.5x faster (AMD Zen 4,
2 threads, 1364 frames, 2026-12-04: a query block's scores 0.36 -> 0.10 ms, its positional scores 0.23 -> 0.04
ms, the non-linear attention's product 7.7 -> 3.4 ms, the 4 x 12 value heads 3.95 -> 0.72 ms); softmax
normalises in float32 either way. Elsewhere bfloat16 is emulated and slower, so attention stays float32.
"""

from __future__ import annotations

import os
from typing import Optional

import torch
from torch import nn

from ..errors import InvalidOptionError
from .cpu import cpu_info

ATTENTION_ENV = "LUXTTS_INT8_ATTENTION"
_CHOICES = {"auto": None, "bfloat16": torch.bfloat16, "float32": torch.float32}


def native_bfloat16() -> bool:
    """Whether this CPU has bfloat16 dot-product instructions (AVX-512 BF16 or AMX-BF16)."""
    return bool({"avx512_bf16", "amx_bf16"} & set(cpu_info().flags))


def int8_attention_dtype(requested: Optional[str] = None) -> torch.dtype:
    """The dtype of an int8 model's attention: ``requested``, else $LUXTTS_INT8_ATTENTION, else "auto"
    (bfloat16 on a CPU with native bfloat16 products, float32 otherwise)."""
    source = "int8 attention" if requested is not None else f"${ATTENTION_ENV}"
    choice = (requested if requested is not None else os.environ.get(ATTENTION_ENV, "auto")).strip().lower()
    if choice not in _CHOICES:
        raise InvalidOptionError(f"{source} must be one of {', '.join(_CHOICES)}; got {choice!r}")
    dtype = _CHOICES[choice]
    if dtype is None:
        dtype = torch.bfloat16 if native_bfloat16() else torch.float32
    return dtype


def set_attention_dtype(model: nn.Module, dtype: Optional[torch.dtype]) -> int:
    """Compute every attention of ``model`` in ``dtype`` (None: its input's). Returns how many were set."""
    from ..model.attention import AttentionWeights

    count = 0
    for module in model.modules():
        if isinstance(module, AttentionWeights):
            module.score_dtype = dtype
            count += 1
    return count
