"""Zipformer attention: compact relative positions, shared attention weights, and their three consumers."""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import Tensor, nn

from ..runtime import native
from ..runtime.onednn import onednn_linear_usable, onednn_product
from .linear import Linear, attend, needs_grad, onednn_products_win, tracing

# Masked scores are set to this value rather than -inf: exp(-1000 - max) is exactly zero in every float
# format, and a row can never turn into NaN.
_MASKED_SCORE = -1000.0


def compact_rel_positions(length: int, dim: int, device=None) -> Tensor:
    """Compact relative positional encoding for offsets -(length-1) .. length-1, (2 * length - 1, dim) float32.

    Offsets are squashed (log beyond ~sqrt(dim), then atan) before a Fourier basis, so large offsets that
    differ by a little look alike; the last channel is a constant 1 that acts as a bias.
    """
    if dim % 2:
        raise ValueError(f"pos_dim must be even, got {dim}")
    x = torch.arange(-(length - 1), length, device=device).to(torch.float32).unsqueeze(1)
    freqs = 1 + torch.arange(dim // 2, device=device)
    compression = dim**0.5
    compressed = compression * x.sign() * ((x.abs() + compression).log() - math.log(compression))
    angle = (compressed / (dim / (2.0 * math.pi))).atan()
    pe = torch.empty(x.shape[0], dim, device=device)
    pe[:, 0::2] = (angle * freqs).cos()
    pe[:, 1::2] = (angle * freqs).sin()
    pe[:, -1] = 1.0
    return pe


class AttentionWeights(nn.Module):
    """Multi-head attention weights with relative-position scores (no 1/sqrt(d): it is folded into the weights).

    ``score_dtype`` (None: the input's) is the dtype the scores, the softmax and the weights it returns are
    computed in; int8 models set it to bfloat16 on CPUs with native bfloat16 products (see
    :func:`luxtts.runtime.int8_attention_dtype`).
    """

    score_dtype: Optional[torch.dtype] = None

    def __init__(self, channels: int, pos_dim: int, num_heads: int, query_head_dim: int, pos_head_dim: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.query_head_dim = query_head_dim
        self.pos_head_dim = pos_head_dim
        self.in_proj = Linear(channels, (2 * query_head_dim + pos_head_dim) * num_heads)
        self.linear_pos = Linear(pos_dim, num_heads * pos_head_dim, bias=False)

    def project_positions(self, pe: Tensor) -> Tensor:
        """pe: (2T - 1, pos_dim) -> per-head position keys (1, H, pos_head_dim, 2T - 1), contiguous."""
        n = pe.shape[0]
        proj = self.linear_pos(pe.to(self.linear_pos.weight.dtype))
        proj = proj.reshape(n, self.num_heads, self.pos_head_dim).permute(1, 2, 0).unsqueeze(0)
        return proj.to(self.score_dtype or proj.dtype).contiguous()

    def forward(self, x: Tensor, pos: Tensor, key_mask: Optional[Tensor] = None) -> Tensor:
        """x: (B, T, C); pos: from :meth:`project_positions`; key_mask: (B, 1, 1, T) bool, True = ignore.

        Returns softmax weights (B, H, T_query, T_key).
        """
        b, t, _ = x.shape
        h, dq, dp = self.num_heads, self.query_head_dim, self.pos_head_dim
        proj = self.in_proj(x)
        if self.score_dtype is not None:
            proj = proj.to(self.score_dtype)
        q = proj[..., : h * dq].reshape(b, t, h, dq).transpose(1, 2)
        k = proj[..., h * dq : 2 * h * dq].reshape(b, t, h, dq).permute(0, 2, 3, 1)
        p = proj[..., 2 * h * dq :].reshape(b, t, h, dp).transpose(1, 2)
        if tracing() or needs_grad(proj, pos):
            # The blocked path writes softmax into a preallocated tensor (out=), which autograd cannot record.
            return _whole_weights(q, k, p, pos, key_mask)
        weights = torch.empty(b, h, t, t, dtype=proj.dtype, device=proj.device)
        if proj.device.type == "cpu":
            _per_head_blocks(q, k, p, pos, key_mask, weights)
        else:
            _all_head_blocks(q, k, p, pos, key_mask, weights)
        return weights


def _per_head_blocks(q: Tensor, k: Tensor, p: Tensor, pos: Tensor, key_mask: Optional[Tensor], out: Tensor) -> None:
    """The CPU path: one head at a time, in query blocks small enough to stay in cache; each block's scores are
    written straight into ``out``, offset by their positional part and normalised in place. One head's block is
    contiguous, so softmax needs no staging copy (a block spanning all heads is not: softmax's out= then
    computes into a temporary and copies, which cost as much as the softmax itself). 1.4x faster than
    :func:`_all_head_blocks` on one Xeon core at 1364 frames. float32 scores come from oneDNN's inner product
    (the head's keys as its weight) where :func:`onednn_products_win`, else from torch.mm."""
    b, h, t, _ = out.shape
    rows = _query_block_rows(1, t)
    kernels = native.kernels() if out.dtype in (torch.bfloat16, torch.float32) else None
    fused = (kernels is not None and kernels.bf16_scores and out.dtype == torch.bfloat16 and q.shape[-1] % 2 == 0
             and q.stride(-1) == 1 and p.stride(-1) == 1 and pos.is_contiguous()
             and (key_mask is None or key_mask.is_contiguous()))
    by_onednn = (not fused and out.dtype == torch.float32 and onednn_products_win()
                 and onednn_linear_usable(q, k))
    for i in range(b):
        for j in range(h):
            qj, kj, pj, pos_j = q[i, j], k[i, j], p[i, j], pos[0, j]
            mask = None if key_mask is None else key_mask[i, 0]
            if fused:
                # scores, positions, mask and softmax row by row in the kernel, the scores never stored
                kernels.rel_attention(out[i, j], qj, native.key_pairs(kj), pj, pos_j, mask, 0)
                continue
            keys = kj.t().contiguous() if by_onednn else None  # (T, dq): the head's keys as oneDNN's weight
            for i0 in range(0, t, rows):
                i1 = min(t, i0 + rows)
                block = out[i, j, i0:i1]
                scores = None if keys is None else onednn_product(qj[i0:i1], keys, None)
                if scores is None:  # not AMD, or oneDNN refused (it is then off for float32 from here on)
                    keys = None
                    by_onednn = False  # the remaining heads too: no more key copies, no more refused calls
                    torch.mm(qj[i0:i1], kj, out=block)
                else:
                    block.copy_(scores)
                if (kernels is not None and pos_j.is_contiguous() and pj.stride(-1) == 1
                        and (mask is None or mask.is_contiguous())):
                    # positions, mask and softmax in one pass per row, summed in float32 (luxtts.runtime.native)
                    kernels.rel_softmax(block, pj[i0:i1], pos_j, mask, i0)
                    continue
                # Query r reads offsets T-1-r .. 2T-2-r of pos, so the block needs columns T-i1 .. 2T-2-i0.
                rel = torch.mm(pj[i0:i1], pos_j[:, t - i1 : 2 * t - 1 - i0])
                block += _relative_to_absolute(rel[None, None], t)[0, 0]
                if mask is not None:
                    block.masked_fill_(mask, _MASKED_SCORE)
                torch.softmax(block, dim=-1, out=block)


def _all_head_blocks(q: Tensor, k: Tensor, p: Tensor, pos: Tensor, key_mask: Optional[Tensor], out: Tensor) -> None:
    """Other devices: query blocks across every batch item and head at once (few, large kernel launches)."""
    b, h, t, _ = out.shape
    rows = _query_block_rows(b * h, t)
    for i0 in range(0, t, rows):
        i1 = min(t, i0 + rows)
        scores = torch.matmul(q[:, :, i0:i1], k)
        rel = torch.matmul(p[:, :, i0:i1], pos[..., t - i1 : 2 * t - 1 - i0])
        scores += _relative_to_absolute(rel, t)
        if key_mask is not None:
            scores.masked_fill_(key_mask, _MASKED_SCORE)
        torch.softmax(scores, dim=-1, out=out[:, :, i0:i1])


def _whole_weights(q: Tensor, k: Tensor, p: Tensor, pos: Tensor, key_mask: Optional[Tensor]) -> Tensor:
    """All queries at once, the positional scores picked by a gather (exportable with a dynamic length)."""
    t = q.shape[2]
    rel = torch.matmul(p, pos)  # (B, H, T, 2T - 1)
    i = torch.arange(t, device=q.device)
    index = (t - 1) - i[:, None] + i[None, :]
    scores = torch.matmul(q, k) + torch.gather(rel, 3, index.expand(rel.shape[0], rel.shape[1], t, t))
    if key_mask is not None:
        scores = scores.masked_fill(key_mask, _MASKED_SCORE)
    return scores.softmax(dim=-1)


def _query_block_rows(batch_heads: int, t: int) -> int:
    """Rows per query block of ``batch_heads`` heads: about 2 MiB of float32 scores per block (measured best
    on a 2 MiB L2)."""
    return max(16, min(t, (1 << 19) // max(1, batch_heads * t)))


def _relative_to_absolute(rel: Tensor, t: int) -> Tensor:
    """(B, H, R, T + R - 1) scores indexed by offset -> (B, H, R, T) with [r, j] = rel[r, R - 1 - r + j].

    With R = T this is the whole (B, H, T, 2T - 1) -> (B, H, T, T) mapping.
    """
    rel = rel.contiguous()
    r = rel.shape[2]
    s0, s1, s2, s3 = rel.stride()
    shape = (rel.shape[0], rel.shape[1], r, t)
    return rel.as_strided(shape, (s0, s1, s2 - s3, s3), rel.storage_offset() + s3 * (r - 1))


class ValueAttention(nn.Module):
    """Applies precomputed attention weights to projected values; (B, T, C) -> (B, T, C)."""

    def __init__(self, channels: int, num_heads: int, value_head_dim: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.in_proj = Linear(channels, num_heads * value_head_dim)
        self.out_proj = Linear(num_heads * value_head_dim, channels)

    def forward(self, x: Tensor, weights: Tensor, residual: Optional[Tensor] = None) -> Tensor:
        """Returns ``residual + attention(x)`` when ``residual`` is given."""
        b, t, _ = x.shape
        v = self.in_proj(x).reshape(b, t, self.num_heads, -1)
        return self.out_proj(attend(weights, v), residual)


class NonlinAttention(nn.Module):
    """tanh-gated values mixed by the first head's attention weights, then gated again; (B, T, C) -> (B, T, C)."""

    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.in_proj = Linear(channels, 3 * hidden)
        self.out_proj = Linear(hidden, channels)

    def forward(self, x: Tensor, weights: Tensor, residual: Optional[Tensor] = None) -> Tensor:
        """weights: (B, H, T, T); only head 0 is used. Returns ``residual + attention(x)`` when given."""
        s, v, gate = self.in_proj(x).chunk(3, dim=-1)
        # where autograd records nothing, in place: in the projection's own storage and in attend's fresh
        # result. This module runs at the decoder's memory peak (the full-rate stacks), and each temporary here
        # is a (T, 3C/4) float32
        in_place = not needs_grad(v, s, weights)
        v = attend(weights[:, :1], _times_tanh(v, s, in_place)[:, :, None])
        return self.out_proj(v.mul_(gate) if in_place else v * gate, residual)


def _times_tanh(v: Tensor, s: Tensor, in_place: bool = False) -> Tensor:
    """v * tanh(s) as v - 2 v sigmoid(-2 s): three passes over memory instead of five on the CPU, where torch's
    tanh kernel is slow (see :func:`_tanh`); the same rounding as 2 sigmoid(2 s) - 1, within 3e-7 |v|.
    in_place: v and s are the caller's to overwrite (on the CPU the result is v, and s is left holding
    sigmoid(-2 s))."""
    if s.device.type != "cpu" or needs_grad(v, s):
        return v * _tanh(s)
    if in_place:
        return v.addcmul_(v, torch.sigmoid_(s.mul_(-2.0)), value=-2.0)
    return torch.addcmul(v, v, torch.sigmoid_(s * -2.0), value=-2.0)


def _tanh(x: Tensor) -> Tensor:
    """tanh as 2 sigmoid(2x) - 1: within 2e-7 of torch.tanh and 2-4x faster on the CPU, where torch's tanh
    kernel is the slow one."""
    if x.device.type != "cpu":
        return torch.tanh(x)
    if needs_grad(x):
        return torch.sigmoid(x * 2.0) * 2.0 - 1.0  # sigmoid's backward reads its output: no in-place here
    return torch.sigmoid(x * 2.0).mul_(2.0).sub_(1.0)
