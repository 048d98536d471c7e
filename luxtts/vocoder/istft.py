"""Inverse STFT for the Vocos heads, in two forms: torch.fft (default) and an ONNX-exportable matmul form."""

from __future__ import annotations

import math
from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InvalidOptionError

ISTFT_MODES = ("fft", "matmul")
PADDINGS = ("same", "center")
_ENVELOPE_FLOOR = 1e-11


def _check_mode(mode: str) -> str:
    if mode not in ISTFT_MODES:
        raise InvalidOptionError(f"istft mode must be one of {list(ISTFT_MODES)}, got {mode!r}")
    return mode


def inverse_dft_table(n_fft: int) -> torch.Tensor:
    """(2 * (n_fft // 2 + 1), n_fft) float64 rows mapping [real; imag] one-sided bins to a real frame.

    Equals torch.fft.irfft(norm="backward"): bins other than DC and Nyquist count twice, and the imaginary
    parts of DC and Nyquist drop out because their sine rows are zero.
    """
    n_bins = n_fft // 2 + 1
    k = torch.arange(n_bins, dtype=torch.int64)[:, None]
    n = torch.arange(n_fft, dtype=torch.int64)[None, :]
    # reduce k*n modulo n_fft in integers so the angle keeps full float64 precision
    angle = (2.0 * math.pi / n_fft) * torch.remainder(k * n, n_fft).to(torch.float64)
    weight = torch.full((n_bins, 1), 2.0, dtype=torch.float64)
    weight[0] = 1.0
    if n_fft % 2 == 0:
        weight[-1] = 1.0
    weight = weight / n_fft
    return torch.cat([weight * torch.cos(angle), -weight * torch.sin(angle)], dim=0)


class ISTFT(nn.Module):
    """Windowed inverse STFT with overlap-add and window-envelope normalisation.

    padding "same": output is frames * hop samples (Vocos' custom ISTFT); "center": (frames - 1) * hop
    samples, as torch.istft(center=True). mode "fft" uses torch.fft.irfft + fold; mode "matmul" folds the
    inverse DFT and the window into one conv_transpose1d, which ONNX can export.
    """

    def __init__(self, n_fft: int, hop_length: int, padding: str = "same", mode: str = "fft") -> None:
        super().__init__()
        if padding not in PADDINGS:
            raise InvalidOptionError(f"istft padding must be one of {list(PADDINGS)}, got {padding!r}")
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.padding = padding
        self.register_buffer("window", torch.hann_window(n_fft))
        self.mode = "fft"
        self.set_mode(mode)

    def set_mode(self, mode: str) -> None:
        """Switch between "fft" and "matmul" (the table for "matmul" is built once, on the window's device)."""
        self.mode = _check_mode(mode)
        if mode == "matmul" and getattr(self, "dft_table", None) is None:
            table = inverse_dft_table(self.n_fft).to(device=self.window.device, dtype=torch.float32)
            self.register_buffer("dft_table", table, persistent=False)

    @property
    def trim(self) -> int:
        return self.n_fft // 2 if self.padding == "center" else (self.n_fft - self.hop_length) // 2

    def num_samples(self, frames):
        """Output samples for ``frames`` frames (an int or a LongTensor)."""
        return frames * self.hop_length if self.padding == "same" else (frames - 1) * self.hop_length

    def forward(self, real: torch.Tensor, imag: torch.Tensor, lengths: Optional[torch.Tensor] = None) -> torch.Tensor:
        """real, imag (B, n_fft // 2 + 1, T) one-sided spectrum -> (B, num_samples(T)) float32.

        lengths (B,): valid frames per item; each item then equals its own unpadded inverse, and samples
        past ``num_samples(lengths[i])`` are zero.
        """
        real, imag = real.float(), imag.float()
        if lengths is None and self.mode == "fft":
            return self.inverse(torch.complex(real, imag))
        frames = real.shape[-1]
        mask = None
        if lengths is not None:
            mask = (torch.arange(frames, device=real.device)[None, :] < lengths[:, None].to(real.device))
            mask = mask.to(real.dtype).unsqueeze(1)
            real, imag = real * mask, imag * mask
        if self.mode == "fft":
            signal, envelope = self._overlap_add_fft(torch.complex(real, imag), mask)
        else:
            signal, envelope = self._overlap_add_matmul(real, imag, mask)
        return self._normalise(signal, envelope, mask, lengths)

    def inverse(self, spectrum: torch.Tensor) -> torch.Tensor:
        """spectrum (B, n_fft // 2 + 1, T) complex64, all frames valid -> (B, num_samples(T)) float32, "fft" mode.

        The same samples as ``forward(spectrum.real, spectrum.imag)`` without copying the parts apart.
        """
        if self.padding == "center":
            return torch.istft(spectrum, self.n_fft, self.hop_length, self.n_fft, self.window.float(), center=True)
        signal, envelope = self._overlap_add_fft(spectrum, None)
        return self._normalise(signal, envelope, None, None)

    def inverse_in_blocks(self, spectrum_of: Callable[[int, int], torch.Tensor], frames: int, batch: int,
                          block: int, device=None) -> torch.Tensor:
        """:meth:`inverse` of ``frames`` frames whose spectrum ``spectrum_of(start, stop)`` gives as (batch,
        n_fft // 2 + 1, stop - start) complex64, ``block`` frames at a time, so that no frame-sized tensor
        outlives its block. The same samples as one inverse up to the order of the overlap-add's sums (a few
        float32 ulps where blocks meet); "same" padding only."""
        if self.padding != "same":
            raise InvalidOptionError("inverse_in_blocks needs the 'same' padding")
        if block < 1:
            raise InvalidOptionError(f"block must be a positive number of frames, got {block!r}")
        full = self._full_length(frames)
        signal = torch.zeros(batch, full, device=device)
        envelope = torch.zeros(1, full, device=device)
        for start in range(0, frames, block):
            stop = min(frames, start + block)
            part, weight = self._overlap_add_fft(spectrum_of(start, stop), None)
            at = start * self.hop_length
            signal[:, at:at + part.shape[-1]] += part
            envelope[:, at:at + weight.shape[-1]] += weight
            del part, weight
        return self._normalise(signal, envelope, None, None)

    def _normalise(self, signal, envelope, mask, lengths):
        stop = signal.shape[-1] - self.trim
        signal = signal[..., self.trim:stop]
        envelope = envelope[..., self.trim:stop]
        if mask is None:
            return signal / envelope
        signal = signal / torch.where(envelope > _ENVELOPE_FLOOR, envelope, torch.ones_like(envelope))
        valid = torch.arange(signal.shape[-1], device=signal.device)[None, :]
        return signal * (valid < self.num_samples(lengths.to(signal.device))[:, None]).to(signal.dtype)

    def _full_length(self, frames: int) -> int:
        return (frames - 1) * self.hop_length + self.n_fft

    def _overlap_add_fft(self, spectrum, mask):
        window = self.window.float()
        frames = spectrum.shape[-1]
        ifft = torch.fft.irfft(spectrum, self.n_fft, dim=1, norm="backward")
        ifft.mul_(window[None, :, None])
        size = (1, self._full_length(frames))
        kernel, stride = (1, self.n_fft), (1, self.hop_length)
        signal = F.fold(ifft, output_size=size, kernel_size=kernel, stride=stride)[:, 0, 0]
        weights = window.square()[None, :, None].expand(1, -1, frames)
        if mask is not None:
            weights = weights * mask
        envelope = F.fold(weights, output_size=size, kernel_size=kernel, stride=stride)[:, 0, 0]
        return signal, envelope

    def _overlap_add_matmul(self, real, imag, mask):
        window = self.window.float()
        table = self.dft_table.float() * window[None, :]
        signal = F.conv_transpose1d(torch.cat([real, imag], dim=1), table.unsqueeze(1), stride=self.hop_length)
        weights = mask if mask is not None else real.new_ones(1, 1, real.shape[-1])
        envelope = F.conv_transpose1d(weights, window.square()[None, None, :], stride=self.hop_length)
        return signal[:, 0], envelope[:, 0]
