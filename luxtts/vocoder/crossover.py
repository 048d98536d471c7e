"""Joining the two heads: windowed-sinc resampling of the 24 kHz path and an FFT crossover merge."""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Tuple

import torch
import torch.nn.functional as F

from ..errors import InvalidOptionError

TRANSITION_BINS = 8


@lru_cache(maxsize=8)
def _sinc_kernel_cpu(orig: int, new: int, lowpass_filter_width: int, rolloff: float,
                     dtype: torch.dtype) -> Tuple[torch.Tensor, int]:
    base = min(orig, new) * rolloff
    width = math.ceil(lowpass_filter_width * orig / base)
    # same op order and dtype as torchaudio's kernel, so the taps agree to the last bit
    idx = torch.arange(-width, width + orig, dtype=dtype)[None, None] / orig
    t = torch.arange(0, -new, -1, dtype=dtype)[:, None, None] / new + idx
    t = (t * base).clamp(-lowpass_filter_width, lowpass_filter_width)
    window = torch.cos(t * math.pi / lowpass_filter_width / 2) ** 2
    t = t * math.pi
    kernel = torch.where(t == 0, torch.tensor(1.0).to(t), t.sin() / t)
    return kernel * (window * (base / orig)), width


def sinc_kernel(orig_freq: int, new_freq: int, lowpass_filter_width: int = 6, rolloff: float = 0.99,
                dtype: torch.dtype = torch.float32, device=None) -> Tuple[torch.Tensor, int]:
    """Hann-windowed sinc polyphase kernel (new, 1, 2 * width + orig) for rates reduced by their gcd, and width."""
    g = math.gcd(int(orig_freq), int(new_freq))
    orig, new = int(orig_freq) // g, int(new_freq) // g
    kernel, width = _sinc_kernel_cpu(orig, new, lowpass_filter_width, float(rolloff), dtype)
    return kernel.to(device), width


def sinc_resample(wav: torch.Tensor, orig_freq: int, new_freq: int, lowpass_filter_width: int = 6,
                  rolloff: float = 0.99) -> torch.Tensor:
    """Band-limited resampling equal to torchaudio.functional.resample's defaults.

    wav (..., N) -> (..., ceil(N * new / orig)).
    """
    if orig_freq <= 0 or new_freq <= 0:
        raise InvalidOptionError(f"sample rates must be positive, got {orig_freq} -> {new_freq}")
    if orig_freq == new_freq:
        return wav
    g = math.gcd(int(orig_freq), int(new_freq))
    orig, new = int(orig_freq) // g, int(new_freq) // g
    kernel, width = sinc_kernel(orig_freq, new_freq, lowpass_filter_width, rolloff, wav.dtype, wav.device)
    lead, n = wav.shape[:-1], wav.shape[-1]
    x = F.pad(wav.reshape(-1, 1, n), (width, width + orig))
    # each output channel is one polyphase branch; interleave them back into time order
    y = F.conv1d(x, kernel, stride=orig).transpose(1, 2).reshape(x.shape[0], -1)
    target = math.ceil(new * n / orig)
    return y[:, :target].reshape(*lead, -1)


def crossover_mask(n_bins: int, sample_rate: int, crossover_hz: float, transition_bins: int = TRANSITION_BINS,
                   device=None) -> torch.Tensor:
    """(n_bins,) weights of the high path: 0 below the crossover bin, a smooth cubic step, 1 above."""
    cutoff_bin = int((crossover_hz / (sample_rate / 2)) * n_bins)
    start = max(0, cutoff_bin - transition_bins // 2)
    stop = min(n_bins, cutoff_bin + transition_bins // 2)
    u = (torch.linspace(-1, 1, steps=max(stop - start, 0), device=device) + 1) / 2
    return torch.cat([
        torch.zeros(start, device=device),
        3 * u.pow(2) - 2 * u.pow(3),
        torch.ones(n_bins - max(stop, start), device=device),
    ])


def crossover_merge(high: torch.Tensor, low: torch.Tensor, sample_rate: int, crossover_hz: float,
                    transition_bins: int = TRANSITION_BINS) -> torch.Tensor:
    """Spectrum of ``low`` below the crossover and of ``high`` above it; high, low (..., N) -> (..., N).

    The FFT spans the whole signal, so the result for one item depends on its length: merge items one by one.
    """
    if high.shape != low.shape:
        raise ValueError(f"crossover_merge needs equal shapes, got {tuple(high.shape)} and {tuple(low.shape)}")
    n = high.shape[-1]
    spec_high = torch.fft.rfft(high.float())
    spec_low = torch.fft.rfft(low.float())
    mask = crossover_mask(spec_high.shape[-1], sample_rate, crossover_hz, transition_bins, device=high.device)
    return torch.fft.irfft(spec_high * mask + spec_low * (1.0 - mask), n=n)
