"""Vocos' ConvNeXt backbone: mel frames -> hidden frames at the same frame rate."""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from ..config import BackboneConfig


def records_grad(*tensors: torch.Tensor) -> bool:
    """Whether autograd records an op on these tensors: the in-place and blockwise inference paths step aside."""
    return torch.is_grad_enabled() and any(t.requires_grad for t in tensors)


def frame_mask(lengths: Optional[torch.Tensor], frames: int, like: torch.Tensor) -> Optional[torch.Tensor]:
    """(B, 1, frames) mask of 1 for valid frames and 0 past ``lengths``; None when lengths is None."""
    if lengths is None:
        return None
    steps = torch.arange(frames, device=like.device)[None, :]
    return (steps < lengths.to(like.device)[:, None]).to(like.dtype).unsqueeze(1)


def masked(x: torch.Tensor, mask: Optional[torch.Tensor]) -> torch.Tensor:
    """Zero the padded frames of x (B, C, T) so a convolution sees the zeros an unpadded item would."""
    return x if mask is None else x * mask


class ConvNeXtBlock(nn.Module):
    """Depthwise conv (k 7) -> LayerNorm -> Linear -> GELU -> Linear, scaled by gamma, plus the input."""

    def __init__(self, dim: int, intermediate_dim: int, layer_scale: float) -> None:
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, intermediate_dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(intermediate_dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), float(layer_scale)))

    def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """x (B, C, T) -> (B, C, T)."""
        h = self.dwconv(masked(x, mask)).transpose(1, 2)
        h = self.pwconv2(self.act(self.pwconv1(self.norm(h))))
        return x + (self.gamma * h).transpose(1, 2)


class VocosBackbone(nn.Module):
    """Conv embedding, LayerNorm, ConvNeXt blocks, final LayerNorm."""

    def __init__(self, cfg: BackboneConfig) -> None:
        super().__init__()
        # upstream treats a missing or zero layer scale as 1 / num_layers
        layer_scale = cfg.layer_scale_init_value or 1.0 / cfg.num_layers
        self.embed = nn.Conv1d(cfg.input_channels, cfg.dim, kernel_size=7, padding=3)
        self.norm = nn.LayerNorm(cfg.dim, eps=1e-6)
        self.convnext = nn.ModuleList(
            ConvNeXtBlock(cfg.dim, cfg.intermediate_dim, layer_scale) for _ in range(cfg.num_layers)
        )
        self.final_layer_norm = nn.LayerNorm(cfg.dim, eps=1e-6)

    def forward(self, mel: torch.Tensor, lengths: Optional[torch.Tensor] = None) -> torch.Tensor:
        """mel (B, n_mels, T) -> hidden (B, T, dim); lengths (B,) makes padded frames invisible to valid ones."""
        mask = frame_mask(lengths, mel.shape[-1], mel)
        x = self.embed(masked(mel, mask))
        x = self.norm(x.transpose(1, 2)).transpose(1, 2)
        for block in self.convnext:
            x = block(x, mask)
        return self.final_layer_norm(x.transpose(1, 2))
