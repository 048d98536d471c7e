"""Sample-rate conversion with soxr "HQ", with librosa's output-length rule."""

from __future__ import annotations

import math
from typing import Union

import numpy as np
import soxr
import torch

from ..errors import InvalidOptionError

SOXR_QUALITY = "HQ"  # librosa's default res_type "soxr_hq"; the golden prompts were made with it

ArrayLike = Union[torch.Tensor, np.ndarray]


def check_rate(name: str, rate: object) -> int:
    """Return ``rate`` as an int (integers, or floats with an integral value), or raise InvalidOptionError."""
    from ..inputs import as_rate

    return as_rate(name, rate)


def resampled_length(num_samples: int, sr_in: int, sr_out: int) -> int:
    """ceil(num_samples * (sr_out / sr_in)) in float64, ratio first, exactly as librosa computes it.

    The ratio-first order matters: 176400 samples at 44.1 kHz give 96001 samples at 24 kHz, not 96000.
    """
    return int(math.ceil(num_samples * (float(sr_out) / sr_in)))


def fix_length(x: np.ndarray, size: int) -> np.ndarray:
    """Cut, or pad with zeros, the last axis of ``x`` to ``size`` samples."""
    n = x.shape[-1]
    if n > size:
        return x[..., :size]
    if n < size:
        pad = [(0, 0)] * (x.ndim - 1) + [(0, size - n)]
        return np.pad(x, pad, mode="constant")
    return x


def resample_numpy(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """(..., N) float32/float64 array -> (..., resampled_length(N)) of the same dtype."""
    if sr_in == sr_out:
        return x
    size = resampled_length(x.shape[-1], sr_in, sr_out)
    if x.shape[-1] == 0:
        return np.zeros(x.shape[:-1] + (size,), dtype=x.dtype)
    lead = x.shape[:-1]
    rows = np.ascontiguousarray(x.reshape(-1, x.shape[-1]))
    out = [fix_length(soxr.resample(row, sr_in, sr_out, quality=SOXR_QUALITY), size) for row in rows]
    return np.stack(out).reshape(lead + (size,)).astype(x.dtype, copy=False)


def resample(wav: ArrayLike, sr_in: int, sr_out: int) -> torch.Tensor:
    """Resample ``wav`` (..., N) from ``sr_in`` to ``sr_out`` Hz -> float tensor (..., ceil(N * sr_out / sr_in)).

    soxr quality "HQ", each leading row on its own; the result is padded with zeros or cut to the length
    above (librosa's rule). Float64 input stays float64, anything else becomes float32; a tensor keeps its
    device.
    """
    sr_in = check_rate("sr_in", sr_in)
    sr_out = check_rate("sr_out", sr_out)
    device = wav.device if isinstance(wav, torch.Tensor) else torch.device("cpu")
    x = wav.detach().cpu().numpy() if isinstance(wav, torch.Tensor) else np.asarray(wav)
    if x.ndim == 0:
        raise InvalidOptionError("resample expects a waveform with at least one dimension (..., N), got a scalar")
    if x.dtype != np.float64:
        x = x.astype(np.float32, copy=False)
    return torch.from_numpy(np.ascontiguousarray(resample_numpy(x, sr_in, sr_out))).to(device)
