"""Zipformer building blocks as eval mode computes them: activations, BiasNorm, feed-forward, convolution.

All modules work on batch-first ``(B, T, C)`` tensors in whatever floating dtype their weights have.
Parameter names follow the published ZipVoice checkpoints, so a state dict loads without renaming.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# Offsets that make SwooshL(0) and SwooshR(0) almost exactly zero.
_SWOOSH_L_SHIFT = 4.0
_SWOOSH_L_OFFSET = 0.035
_SWOOSH_R_SHIFT = 1.0
_SWOOSH_R_OFFSET = 0.313261687
_SWOOSH_SLOPE = 0.08


def swoosh_l(x: Tensor) -> Tensor:
    """log(1 + exp(x - 4)) - 0.08 x - 0.035, elementwise."""
    return F.softplus(x - _SWOOSH_L_SHIFT).add_(x, alpha=-_SWOOSH_SLOPE).sub_(_SWOOSH_L_OFFSET)


def swoosh_r(x: Tensor) -> Tensor:
    """log(1 + exp(x - 1)) - 0.08 x - 0.313261687, elementwise."""
    return F.softplus(x - _SWOOSH_R_SHIFT).add_(x, alpha=-_SWOOSH_SLOPE).sub_(_SWOOSH_R_OFFSET)


class SwooshR(nn.Module):
    """Module form of :func:`swoosh_r` (it sits inside ``nn.Sequential`` blocks of the checkpoint)."""

    def forward(self, x: Tensor) -> Tensor:
        return swoosh_r(x)


class BiasNorm(nn.Module):
    """x / rms(x - bias) * exp(log_scale) over the last axis; ``bias`` only enters the statistic."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.log_scale = nn.Parameter(torch.tensor(1.0))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor) -> Tensor:
        # The statistic is taken in float32 so that half-precision activations cannot overflow when squared.
        centred = (x - self.bias).float()
        scale = centred.square().mean(dim=-1, keepdim=True).rsqrt() * self.log_scale.float().exp()
        return x * scale.to(x.dtype)


class Bypass(nn.Module):
    """Learned per-channel interpolation ``orig + (new - orig) * scale``; eval mode uses the raw scale."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bypass_scale = nn.Parameter(torch.full((channels,), 0.5))

    def forward(self, orig: Tensor, new: Tensor) -> Tensor:
        return torch.addcmul(orig, new - orig, self.bypass_scale)


class FeedForward(nn.Module):
    """Linear -> SwooshL -> Linear, (B, T, C) -> (B, T, C)."""

    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.in_proj = nn.Linear(channels, hidden)
        self.out_proj = nn.Linear(hidden, channels)

    def forward(self, x: Tensor) -> Tensor:
        return self.out_proj(swoosh_l(self.in_proj(x)))


class ConvModule(nn.Module):
    """Gated linear unit, depthwise convolution over time, SwooshR, linear; (B, T, C) -> (B, T, C)."""

    def __init__(self, channels: int, kernel_size: int) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"cnn_module_kernel must be odd, got {kernel_size}")
        self.in_proj = nn.Linear(channels, 2 * channels)
        self.depthwise_conv = nn.Conv1d(
            channels, channels, kernel_size, padding=kernel_size // 2, groups=channels
        )
        self.out_proj = nn.Linear(channels, channels)

    def forward(self, x: Tensor, pad_mask: Optional[Tensor] = None) -> Tensor:
        """pad_mask: (B, T, 1) bool, True on padding frames (zeroed so they cannot leak into the kernel)."""
        x, gate = self.in_proj(x).chunk(2, dim=-1)
        x = x * torch.sigmoid(gate)
        if pad_mask is not None:
            x = x.masked_fill(pad_mask, 0.0)
        x = self.depthwise_conv(x.transpose(1, 2)).transpose(1, 2)
        return self.out_proj(swoosh_r(x))
