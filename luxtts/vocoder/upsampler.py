"""LinaCodec's feature upsampler for the 48 kHz head: transposed convs, Snake ResNet blocks, projection back."""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..config import UpsamplerConfig
from ..errors import ConfigError
from .vocos import frame_mask, masked, records_grad

GROUPS = 32
GROUP_NORM_EPS = 1e-6


class Snake(nn.Module):
    """x + sin(alpha x)^2 / alpha, with a learned alpha per channel."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(1, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, C, T) -> (B, C, T)."""
        inverse = (self.alpha + 1e-9).reciprocal()
        if records_grad(x, self.alpha) or torch.jit.is_tracing():
            return x + inverse * torch.sin(self.alpha * x).pow(2)
        # at the 48 kHz head's frame rate each temporary is as large as the signal: one, reused, instead of four
        # (the same operations in the same order, so the same bits)
        y = torch.mul(self.alpha, x)
        return y.sin_().square_().mul_(inverse).add_(x)


def masked_group_norm(x: torch.Tensor, norm: nn.GroupNorm, mask: torch.Tensor) -> torch.Tensor:
    """GroupNorm whose statistics use only the valid frames of each item (x (B, C, T), mask (B, 1, T))."""
    b, c, t = x.shape
    g = norm.num_groups
    xg = x.reshape(b, g, c // g, t)
    m = mask.reshape(b, 1, 1, t)
    count = m.sum(dim=(2, 3), keepdim=True) * (c // g)
    mean = (xg * m).sum(dim=(2, 3), keepdim=True) / count
    var = ((xg - mean).square() * m).sum(dim=(2, 3), keepdim=True) / count
    y = ((xg - mean) * torch.rsqrt(var + norm.eps)).reshape(b, c, t)
    return y * norm.weight[None, :, None] + norm.bias[None, :, None]


class ResnetBlock(nn.Module):
    """GroupNorm -> Snake -> conv (k 3), twice, plus the input (channels unchanged)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.snake1 = Snake(channels)
        self.norm1 = nn.GroupNorm(GROUPS, channels, eps=GROUP_NORM_EPS)
        self.conv1 = nn.Conv1d(channels, channels, kernel_size=3, padding=1)
        self.norm2 = nn.GroupNorm(GROUPS, channels, eps=GROUP_NORM_EPS)
        self.conv2 = nn.Conv1d(channels, channels, kernel_size=3, padding=1)
        self.snake2 = Snake(channels)

    def _norm(self, norm: nn.GroupNorm, x: torch.Tensor, mask: Optional[torch.Tensor]) -> torch.Tensor:
        if mask is None:
            return F.group_norm(x, norm.num_groups, norm.weight, norm.bias, norm.eps)
        return masked_group_norm(x, norm, mask)

    def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """x (B, C, T) -> (B, C, T); mask (B, 1, T) keeps padded frames out of the statistics and convs."""
        h = self.conv1(masked(self.snake1(self._norm(self.norm1, x, mask)), mask))
        h = self.conv2(masked(self.snake2(self._norm(self.norm2, h, mask)), mask))
        return x + h


class UpSampler(nn.Module):
    """Hidden frames (B, C, T) -> (B, C, T * prod(upsample_factors)), channels halved per stage then projected back."""

    def __init__(self, cfg: UpsamplerConfig) -> None:
        super().__init__()
        stages = len(cfg.upsample_factors)
        if cfg.in_channels % (2 ** stages * GROUPS):
            raise ConfigError(
                f"upsampler.in_channels must be divisible by {2 ** stages * GROUPS}, got {cfg.in_channels}"
            )
        self.upsample_layers = nn.ModuleList()
        self.resnet_blocks = nn.ModuleList()
        for i, (k, u) in enumerate(zip(cfg.kernel_sizes, cfg.upsample_factors)):
            c_in, c_out = cfg.in_channels >> i, cfg.in_channels >> (i + 1)
            # weight norm is folded into the plain weight when the checkpoint is saved
            self.upsample_layers.append(nn.ConvTranspose1d(c_in, c_out, kernel_size=k, stride=u, padding=(k - u) // 2))
            self.resnet_blocks.append(ResnetBlock(c_out))
        self.out_proj = nn.Linear(cfg.in_channels >> stages, cfg.in_channels)
        self.final_snake = Snake(cfg.in_channels)

    def num_frames(self, frames):
        """Output frames for ``frames`` input frames (an int or a LongTensor): T * prod(factors) when k - u is even."""
        for up in self.upsample_layers:
            frames = (frames - 1) * up.stride[0] - 2 * up.padding[0] + up.kernel_size[0]
        return frames

    def forward(self, x: torch.Tensor, lengths: Optional[torch.Tensor] = None) -> torch.Tensor:
        """x (B, C, T) -> (B, C, T'), T' = each transposed conv's output length; lengths (B,) valid frames."""
        for up, block in zip(self.upsample_layers, self.resnet_blocks):
            x = up(masked(x, frame_mask(lengths, x.shape[-1], x)))
            if lengths is not None:
                lengths = (lengths - 1) * up.stride[0] - 2 * up.padding[0] + up.kernel_size[0]
            x = block(x, frame_mask(lengths, x.shape[-1], x))
        x = self.out_proj(x.transpose(1, 2)).transpose(1, 2)
        return self.final_snake(x)
