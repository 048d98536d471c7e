"""Zipformer building blocks as eval mode computes them: activations, BiasNorm, feed-forward, convolution.

All modules work on batch-first ``(B, T, C)`` tensors in whatever floating dtype their weights have.
Parameter names follow the published ZipVoice checkpoints, so a state dict loads without renaming.
"""

from __future__ import annotations

import functools
import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..runtime import native
from ..runtime.cpu import cpu_info
from .linear import Linear, needs_grad, tracing, version_of

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
        if tracing():
            centred = (x - self.bias).float()
            scale = centred.square().mean(dim=-1, keepdim=True).rsqrt() * self.log_scale.float().exp()
            return x * scale.to(x.dtype)
        # 1 / rms = sqrt(C) / ||x - bias||: the norm reads the centred values once instead of squaring them into
        # another tensor first.
        norm = torch.linalg.vector_norm(x - self.bias, dim=-1, keepdim=True, dtype=torch.float32)
        scale = (x.shape[-1] ** 0.5) * self.log_scale.float().exp() / norm
        return x * scale.to(x.dtype)


class Bypass(nn.Module):
    """Learned per-channel interpolation ``orig + (new - orig) * scale``; eval mode uses the raw scale."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bypass_scale = nn.Parameter(torch.full((channels,), 0.5))

    def forward(self, orig: Tensor, new: Tensor) -> Tensor:
        # lerp computes orig + scale * (new - orig) in one pass (sub + addcmul took two).
        return torch.lerp(orig, new, self.bypass_scale.to(orig.dtype))


# Elements per block of :func:`_swoosh_tail`'s single-thread CPU path: 512 KiB of float32, so that its passes over
# a block run in L2 instead of memory (measured best of 2^15 .. 2^19 on one Xeon core).
_TAIL_BLOCK = 1 << 17


def _swoosh_tail(shifted: Tensor) -> Tensor:
    """softplus(z) - 0.08 z for z = x - shift: the part of a Swoosh left once its constants are folded into the
    neighbouring biases.

    On the CPU in float32 it is one pass of :mod:`luxtts.runtime.native`'s C kernel where that builds. Without it,
    it runs as log(exp(z) + 1) - 0.08 z in float32 (except float32 input where
    :func:`_softplus_kernel_is_faster`, AMD): torch's softplus kernel pays for a vectorised log1p that costs 3x
    a log, so four passes cost less than its two (1364 x 1536 on one Xeon core: 2.3 ms
    against 4.3 ms over memory, 1.9-2.4 ms block by block in L2). Adding 1 before the log loses
    nothing that matters: its absolute error (below 6e-8) is under 3e-7 of the result, which is never below
    0.27. exp overflows for z > 88.7; a block where that happens (its sum is not finite) is redone with
    softplus, so large, infinite and NaN inputs give what they gave before.
    """
    if shifted.dtype == torch.float32 and _blockwise_ok(shifted):
        kernels = native.kernels()
        if kernels is not None:
            return kernels.swoosh_tail(shifted, _SWOOSH_SLOPE)
    if not _blockwise_ok(shifted) or (shifted.dtype == torch.float32 and _softplus_kernel_is_faster()):
        return F.softplus(shifted).add_(shifted, alpha=-_SWOOSH_SLOPE)
    out = torch.empty_like(shifted)
    flat_in, flat_out = shifted.view(-1), out.view(-1)
    n = flat_in.numel()
    # Cache-sized blocks only on one thread: with more, every op is a fork and a barrier of the thread pool, and
    # on a machine shared with other work a barrier can wait for a descheduled thread's next time slice: five
    # ops per call (against two for softplus) keep that risk near where it was, where block-sized ones
    # multiply it (2-thread W1 int8 passes with them ran 1.5x longer than before on an oversubscribed host).
    block = _TAIL_BLOCK if torch.get_num_threads() == 1 else max(n, 1)
    # float32 throughout: in bfloat16 each of the four steps would round (to 2^-9), 1 + exp(z) worst.
    staging = None if shifted.dtype == torch.float32 else torch.empty(min(block, n), dtype=torch.float32)
    for start in range(0, n, block):
        z = flat_in[start : start + block]
        if staging is None:
            acc = torch.exp(z, out=flat_out[start : start + block])
        else:
            acc = staging[: z.numel()].copy_(z).exp_()
        acc.add_(1.0).log_()
        if not math.isfinite(float(acc.sum())):
            acc.copy_(F.softplus(z.float()))
        acc.add_(z, alpha=-_SWOOSH_SLOPE)
        if staging is not None:
            flat_out[start : start + block].copy_(acc)
    return out


@functools.lru_cache(maxsize=None)
def _softplus_kernel_is_faster() -> bool:
    """Whether torch's softplus kernel beats the four passes of :func:`_swoosh_tail` on this CPU. Measured
    (1364 x 1536 float32, interleaved): AMD Zen 4, 1.88 against 2.60 ms on 2 threads and 3.87 against 5.23 ms on
    one (2026-12-04); Intel Xeon, one core, 4.3 against 2.3 ms (2026-11-30). Decided by vendor, not timed, so
    that a run's numbers do not depend on a timing."""
    return cpu_info().vendor == "AuthenticAMD"


def _blockwise_ok(x: Tensor) -> bool:
    return (
        x.device.type == "cpu" and x.dtype in (torch.float32, torch.bfloat16) and x.is_contiguous()
        and not needs_grad(x) and not tracing()
    )


# Rows (frames x batch) per block of FeedForward's CPU path. Measured (AMD Zen 4, 2 threads, 2026-12-04, 1364
# frames, 512 channels, interleaved): the whole tensor at once against 256-row blocks, hidden 1152 / 1536 / 1920:
# int8 12.2 / 15.9 / 19.9 against 8.6 / 10.7 / 13.6 ms, float32 20.6 / 28.0 / 32.3 against 19.5 / 25.4 / 30.6
# ms; 128 rows was slower in float32, 512 and more gave back part of the gain. The convolution module's
# frame-by-frame parts in such blocks gained nothing (W1 one pass int8 0.999x, float32 1.006x).
_FF_BLOCK_ROWS = 256


class FeedForward(nn.Module):
    """Linear -> SwooshL -> Linear, (B, T, C) -> (B, T, C).

    SwooshL's shift is folded into in_proj's bias and its constant term into out_proj's, so the activation is
    :func:`_swoosh_tail`; the checkpoint's parameters are unchanged.
    """

    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.in_proj = Linear(channels, hidden)
        self.out_proj = Linear(hidden, channels)
        self.in_proj.output_offset = -_SWOOSH_L_SHIFT
        self.out_proj.input_offset = -(_SWOOSH_SLOPE * _SWOOSH_L_SHIFT + _SWOOSH_L_OFFSET)

    def forward(self, x: Tensor, residual: Optional[Tensor] = None) -> Tensor:
        """Returns ``residual + ff(x)`` when ``residual`` is given (added inside the last GEMM)."""
        rows = x.shape[:-1].numel()
        if (rows <= _FF_BLOCK_ROWS or x.device.type != "cpu" or tracing() or needs_grad(x, residual)
                or needs_grad(*self.parameters()) or (residual is not None and residual.shape != x.shape)):
            return self._rows(x, residual)
        # Each frame on its own: run in blocks of rows, so that the hidden activation (up to 4x the channels)
        # stays in cache between the three steps and never exists whole.
        flat = x.reshape(rows, x.shape[-1])
        flat_res = None if residual is None else residual.reshape(rows, residual.shape[-1])
        out = flat.new_empty(rows, self.out_proj.out_features)
        for start in range(0, rows, _FF_BLOCK_ROWS):
            stop = min(rows, start + _FF_BLOCK_ROWS)
            block = out[start:stop]
            y = self._rows(flat[start:stop], None if flat_res is None else flat_res[start:stop], block)
            if y is not block:
                block.copy_(y)
        return out.view(*x.shape[:-1], out.shape[-1])

    def _rows(self, x: Tensor, residual: Optional[Tensor], out: Optional[Tensor] = None) -> Tensor:
        # An int8 model's native kernel applies the tail as it writes the hidden activation, and notes its range,
        # which out_proj would otherwise read the whole activation again to find; out_proj then writes its rows
        # straight into ``out`` (luxtts.runtime.quantize).
        fused = getattr(self.in_proj, "swoosh_tail", None)
        hidden = None if fused is None or not hasattr(self.out_proj, "swoosh_tail") else fused(x, _SWOOSH_SLOPE)
        if hidden is not None:
            return self.out_proj(hidden[0], residual, extremes=hidden[1], out=out)
        return self.out_proj(_swoosh_tail(self.in_proj(x)), residual)


class ConvModule(nn.Module):
    """Gated linear unit, depthwise convolution over time, SwooshR, linear; (B, T, C) -> (B, T, C)."""

    def __init__(self, channels: int, kernel_size: int) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"cnn_module_kernel must be odd, got {kernel_size}")
        self.in_proj = Linear(channels, 2 * channels)
        self.depthwise_conv = nn.Conv1d(
            channels, channels, kernel_size, padding=kernel_size // 2, groups=channels
        )
        self.out_proj = Linear(channels, channels)
        # SwooshR's shift goes into the convolution's bias (see _depthwise), its constant into out_proj's.
        self.out_proj.input_offset = -(_SWOOSH_SLOPE * _SWOOSH_R_SHIFT + _SWOOSH_R_OFFSET)

    def forward(self, x: Tensor, pad_mask: Optional[Tensor] = None, residual: Optional[Tensor] = None) -> Tensor:
        """pad_mask: (B, T, 1) bool, True on padding frames (zeroed so they cannot leak into the kernel).
        Returns ``residual + conv(x)`` when ``residual`` is given."""
        h = self.in_proj(x)
        core = self._native_core(h, pad_mask)
        if core is not None:
            return self.out_proj(core, residual)
        x = F.glu(h, dim=-1)  # first half * sigmoid(second half)
        if pad_mask is not None:
            x = x.masked_fill(pad_mask, 0.0)
        return self.out_proj(_swoosh_tail(self._depthwise(x, self._shifted_bias())), residual)

    def _native_core(self, h: Tensor, pad_mask: Optional[Tensor]) -> Optional[Tensor]:
        """Gated unit, convolution and SwooshR's tail in one pass of the C kernel (see
        luxtts/runtime/native/convmod.c), where it runs: float32 inference on the CPU. None elsewhere."""
        conv = self.depthwise_conv
        if (h.dtype != torch.float32 or h.dim() != 3 or not h.numel() or conv.weight.dtype != torch.float32
                or needs_grad(conv.weight, conv.bias) or not _blockwise_ok(h)):
            return None
        kernels = native.kernels()
        if kernels is None:
            return None
        mask = None
        if pad_mask is not None:
            mask = pad_mask.reshape(h.shape[0], h.shape[1]).contiguous()
        weight = conv.weight.reshape(conv.weight.shape[0], -1).contiguous()
        return kernels.conv_module_core(h, mask, weight, self._shifted_bias().contiguous(), _SWOOSH_SLOPE)

    def _depthwise(self, x: Tensor, bias: Optional[Tensor]) -> Tensor:
        """(B, T, C) -> (B, T, C). Run as a 2-D convolution on a (B, C, 1, T) view, which is channels-last in
        memory: oneDNN's channels-last depthwise kernel is ~30x faster here than Conv1d on (B, C, T), and no
        transposed copy is made on either side."""
        conv = self.depthwise_conv
        k = conv.kernel_size[0]
        y = F.conv2d(x.transpose(1, 2).unsqueeze(2), conv.weight.unsqueeze(2), bias,
                     padding=(0, k // 2), groups=conv.groups)
        return y.squeeze(2).transpose(1, 2)

    def _shifted_bias(self) -> Tensor:
        """The convolution's bias minus SwooshR's shift, cached per bias tensor and version (recomputed with
        gradients when training)."""
        bias = self.depthwise_conv.bias
        if needs_grad(bias):
            return bias - _SWOOSH_R_SHIFT
        cached = self.__dict__.get("_shifted")
        if cached is None or cached[0] is not bias or cached[1] != version_of(bias):
            cached = (bias, version_of(bias), bias.detach() - _SWOOSH_R_SHIFT)
            self.__dict__["_shifted"] = cached
        return cached[2]

    def _load_from_state_dict(self, *args, **kwargs):
        self.__dict__.pop("_shifted", None)
        return super()._load_from_state_dict(*args, **kwargs)
