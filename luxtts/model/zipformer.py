"""Zipformer for TTS (inference only): stacks of encoder layers at several frame rates.

Everything that depends only on the sequence length and the padding mask (relative positions, their per-layer
projections, masks at each frame rate) is built once by :meth:`TTSZipformer.prepare` and reused for every call
with the same shapes, e.g. across the steps of an ODE solver.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Optional, Sequence

import torch
from torch import Tensor, nn

from .attention import AttentionWeights, NonlinAttention, ValueAttention, compact_rel_positions
from .layers import BiasNorm, Bypass, ConvModule, FeedForward, SwooshR
from .linear import Linear

GUIDANCE_EMBED_DIM = 192  # fixed in the published architecture, independent of time_embed_dim


def sinusoidal_embedding(values: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """values: (N,) -> (N, dim) float32 as [cos | sin] of values x geometric frequencies (zero-padded if odd)."""
    half = dim // 2
    freqs = torch.exp(
        -math.log(max_period) * torch.arange(half, dtype=torch.float32, device=values.device) / half
    )
    args = values[..., None].float() * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = torch.cat([emb, torch.zeros_like(emb[..., :1])], dim=-1)
    return emb


@dataclass
class StackContext:
    """Per-stack tensors that depend only on (length, padding): reused across calls."""

    key_mask: Optional[Tensor]  # (B, 1, 1, T_s) bool, True = padding key; None when nothing is padded
    pad_mask: Optional[Tensor]  # (B, T_s, 1) bool, True = padding frame; None when nothing is padded
    positions: List[Tensor]  # one (1, H, pos_head_dim, 2 T_s - 1) per layer


class EncoderLayer(nn.Module):
    """One Zipformer layer: 3 feed-forwards, 2 value attentions and a non-linear attention that share one set
    of attention weights, 2 convolution modules, BiasNorm and two learned bypasses."""

    def __init__(
        self, channels: int, pos_dim: int, num_heads: int, query_head_dim: int, pos_head_dim: int,
        value_head_dim: int, feedforward_dim: int, kernel_size: int,
    ) -> None:
        super().__init__()
        self.bypass = Bypass(channels)
        self.bypass_mid = Bypass(channels)
        self.self_attn_weights = AttentionWeights(channels, pos_dim, num_heads, query_head_dim, pos_head_dim)
        self.self_attn1 = ValueAttention(channels, num_heads, value_head_dim)
        self.self_attn2 = ValueAttention(channels, num_heads, value_head_dim)
        self.feed_forward1 = FeedForward(channels, (feedforward_dim * 3) // 4)
        self.feed_forward2 = FeedForward(channels, feedforward_dim)
        self.feed_forward3 = FeedForward(channels, (feedforward_dim * 5) // 4)
        self.nonlin_attention = NonlinAttention(channels, 3 * channels // 4)
        self.conv_module1 = ConvModule(channels, kernel_size)
        self.conv_module2 = ConvModule(channels, kernel_size)
        self.norm = BiasNorm(channels)

    def forward(
        self, src: Tensor, positions: Tensor, key_mask: Optional[Tensor], pad_mask: Optional[Tensor],
        time_emb: Optional[Tensor] = None,
    ) -> Tensor:
        """src: (B, T, C); time_emb: (B or 1, 1, C) or None. Returns (B, T, C)."""
        orig = src
        weights = self.self_attn_weights(src, positions, key_mask)
        if time_emb is not None:
            src = src + time_emb
        # Each sub-module returns src + its output, the addition done inside its last matrix product.
        src = self.feed_forward1(src, residual=src)
        src = self.nonlin_attention(src, weights, residual=src)
        src = self.self_attn1(src, weights, residual=src)
        if time_emb is not None:
            src = src + time_emb
        src = self.conv_module1(src, pad_mask, residual=src)
        src = self.feed_forward2(src, residual=src)
        src = self.bypass_mid(orig, src)
        src = self.self_attn2(src, weights, residual=src)
        if time_emb is not None:
            src = src + time_emb
        src = self.conv_module2(src, pad_mask, residual=src)
        src = self.feed_forward3(src, residual=src)
        return self.bypass(orig, self.norm(src))


class Stack(nn.Module):
    """Encoder layers at one frame rate, with the stack's own projection of the time embedding."""

    def __init__(self, layers: Sequence[EncoderLayer], channels: int, time_embed_dim: Optional[int]) -> None:
        super().__init__()
        self.time_emb = (
            nn.Sequential(SwooshR(), nn.Linear(time_embed_dim, channels)) if time_embed_dim is not None else None
        )
        self.layers = nn.ModuleList(layers)

    def forward(self, src: Tensor, ctx: StackContext, time_emb: Optional[Tensor] = None) -> Tensor:
        """src: (B, T_s, C); time_emb: (B or 1, time_embed_dim) or None."""
        if self.time_emb is not None:
            if time_emb is None:
                raise ValueError("this stack needs a time embedding")
            time_emb = self.time_emb(time_emb).unsqueeze(1)
        for layer, pos in zip(self.layers, ctx.positions):
            src = layer(src, pos, ctx.key_mask, ctx.pad_mask, time_emb)
        return src


class Downsample(nn.Module):
    """Softmax-weighted average of each group of ``factor`` frames; the last frame repeats to fill a group."""

    def __init__(self, factor: int) -> None:
        super().__init__()
        self.factor = factor
        self.bias = nn.Parameter(torch.zeros(factor))

    def forward(self, x: Tensor) -> Tensor:
        """(B, T, C) -> (B, ceil(T / factor), C)."""
        b, t, c = x.shape
        ds = self.factor
        groups = (t + ds - 1) // ds
        pad = groups * ds - t
        if pad:
            x = torch.cat([x, x[:, -1:].expand(b, pad, c)], dim=1)
        weights = self.bias.softmax(dim=0).to(x.dtype)
        return (x.reshape(b, groups, ds, c) * weights[:, None]).sum(dim=2)


class DownsampledStack(nn.Module):
    """A :class:`Stack` run at 1/``factor`` of the frame rate; its upsampled output is blended with its input."""

    def __init__(self, encoder: Stack, channels: int, factor: int) -> None:
        super().__init__()
        self.factor = factor
        self.downsample = Downsample(factor)
        self.encoder = encoder
        self.out_combiner = Bypass(channels)

    @property
    def layers(self) -> nn.ModuleList:
        return self.encoder.layers

    def forward(self, src: Tensor, ctx: StackContext, time_emb: Optional[Tensor] = None) -> Tensor:
        """src: (B, T, C) at the full rate -> (B, T, C)."""
        b, t, c = src.shape
        out = self.encoder(self.downsample(src), ctx, time_emb)
        out = out.unsqueeze(2).expand(b, out.shape[1], self.factor, c).reshape(b, -1, c)[:, :t]
        return self.out_combiner(src, out)


class TTSZipformer(nn.Module):
    """in_proj -> stacks at the given downsampling factors -> out_proj, on (B, T, in_dim) -> (B, T, out_dim)."""

    def __init__(
        self, in_dim: int, out_dim: int, downsampling_factor: Sequence[int], num_layers: Sequence[int],
        cnn_module_kernel: Sequence[int], dim: int, feedforward_dim: int, num_heads: int, query_head_dim: int,
        pos_head_dim: int, value_head_dim: int, pos_dim: int, time_embed_dim: Optional[int] = None,
        guidance_embed: bool = False,
    ) -> None:
        super().__init__()
        if guidance_embed and time_embed_dim is None:
            raise ValueError("a guidance-scale embedding needs a time embedding")
        self.pos_dim = pos_dim
        self.time_embed_dim = time_embed_dim
        self.in_proj = Linear(in_dim, dim)
        self.out_proj = Linear(dim, out_dim)
        stacks: List[nn.Module] = []
        for factor, n, kernel in zip(downsampling_factor, num_layers, cnn_module_kernel):
            layers = [
                EncoderLayer(dim, pos_dim, num_heads, query_head_dim, pos_head_dim, value_head_dim,
                             feedforward_dim, kernel)
                for _ in range(n)
            ]
            stack = Stack(layers, dim, time_embed_dim)
            stacks.append(DownsampledStack(stack, dim, factor) if factor != 1 else stack)
        self.encoders = nn.ModuleList(stacks)
        self.time_embed = (
            nn.Sequential(nn.Linear(time_embed_dim, 2 * time_embed_dim), SwooshR(),
                          nn.Linear(2 * time_embed_dim, time_embed_dim))
            if time_embed_dim is not None else None
        )
        self.guidance_scale_embed = (
            nn.Linear(GUIDANCE_EMBED_DIM, time_embed_dim, bias=False) if guidance_embed else None
        )

    @property
    def dtype(self) -> torch.dtype:
        return self.in_proj.weight.dtype

    def prepare(self, length: int, padding_mask: Optional[Tensor]) -> List[StackContext]:
        """Masks and projected positions for every stack. padding_mask: (B, length) bool, True = pad, or None."""
        device = self.in_proj.weight.device
        if padding_mask is not None and not bool(padding_mask.any()):
            padding_mask = None
        cache = {}
        contexts = []
        for stack in self.encoders:
            factor = stack.factor if isinstance(stack, DownsampledStack) else 1
            if factor not in cache:
                t_s = (length + factor - 1) // factor
                mask = None if padding_mask is None else padding_mask[:, ::factor].to(device)
                cache[factor] = (
                    compact_rel_positions(t_s, self.pos_dim, device=device),
                    None if mask is None else mask[:, None, None, :].contiguous(),
                    None if mask is None else mask[:, :, None].contiguous(),
                )
            pe, key_mask, pad_mask = cache[factor]
            positions = [layer.self_attn_weights.project_positions(pe) for layer in stack.layers]
            contexts.append(StackContext(key_mask, pad_mask, positions))
        return contexts

    def embed_guidance(self, guidance_scale: Tensor) -> Tensor:
        """guidance_scale: (N,) -> its contribution to the time embedding, (N, time_embed_dim) float32."""
        if self.guidance_scale_embed is None:
            raise ValueError("this model has no guidance-scale embedding")
        emb = sinusoidal_embedding(guidance_scale.to(self.in_proj.weight.device), GUIDANCE_EMBED_DIM)
        return self.guidance_scale_embed(emb.to(self.dtype)).float()

    def embed_time(self, t: Tensor, guidance: Optional[Tensor] = None) -> Tensor:
        """t: (N,) in [0, 1]; guidance: from :meth:`embed_guidance` or None -> (N, time_embed_dim)."""
        if self.time_embed is None:
            raise ValueError("this Zipformer takes no time embedding")
        emb = sinusoidal_embedding(t.to(self.in_proj.weight.device), self.time_embed_dim)
        if guidance is not None:
            emb = emb + guidance
        return self.time_embed(emb.to(self.dtype))

    def encode(self, h: Tensor, contexts: Sequence[StackContext], time_emb: Optional[Tensor] = None) -> Tensor:
        """h: (B, T, dim), already through ``in_proj`` -> (B, T, out_dim)."""
        for stack, ctx in zip(self.encoders, contexts):
            h = stack(h, ctx, time_emb)
        return self.out_proj(h)

    def forward(self, x: Tensor, contexts: Sequence[StackContext], time_emb: Optional[Tensor] = None) -> Tensor:
        """x: (B, T, in_dim) -> (B, T, out_dim)."""
        return self.encode(self.in_proj(x), contexts, time_emb)
