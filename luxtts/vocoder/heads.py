"""Vocos' ISTFT head: hidden frames -> log-magnitude and phase -> waveform."""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from ..config import HeadConfig
from .istft import ISTFT
from .vocos import records_grad

MAX_MAGNITUDE = 1e2  # upstream's clip against exploding magnitudes
BLOCK_FRAMES = 256  # frames of spectrum made and inverted at a time: ~0.5 MB per tensor at n_fft 512


class ISTFTHead(nn.Module):
    """Linear to n_fft + 2 values per frame (log magnitude, phase), then an inverse STFT."""

    def __init__(self, cfg: HeadConfig, istft_mode: str = "fft") -> None:
        super().__init__()
        self.out = nn.Linear(cfg.dim, cfg.n_fft + 2)
        self.istft = ISTFT(cfg.n_fft, cfg.hop_length, padding=cfg.padding, mode=istft_mode)

    def forward(self, x: torch.Tensor, lengths: Optional[torch.Tensor] = None) -> torch.Tensor:
        """x (B, T, dim) -> waveform (B, istft.num_samples(T)); lengths (B,) valid frames per item."""
        if lengths is not None or self.istft.mode != "fft":
            return self.istft(*self._real_imag(x), lengths)
        if self.istft.padding == "same" and not records_grad(x) and not torch.jit.is_tracing():
            # the 48 kHz head runs at four times the mel's frame rate, and its linear output, spectrum and inverse
            # were each as large as the waveform's frames: made a block of frames at a time, none of them is
            return self.istft.inverse_in_blocks(lambda start, stop: torch.complex(*self._real_imag(x[:, start:stop])),
                                                x.shape[1], x.shape[0], BLOCK_FRAMES, x.device)
        # the parts live only as torch.complex's arguments, so the spectrum and its inverse are the only
        # frame-sized tensors alive during the inverse
        return self.istft.inverse(torch.complex(*self._real_imag(x)))

    def _real_imag(self, x: torch.Tensor):
        # the inverse STFT is not accurate in half precision; in-place products give the same bits as new
        # tensors, and returning drops the linear's output and the magnitude
        log_mag, phase = self.out(x).float().transpose(1, 2).chunk(2, dim=1)
        if log_mag.requires_grad:  # autograd needs exp's and cos's outputs as they were
            mag = torch.clip(torch.exp(log_mag), max=MAX_MAGNITUDE)
            return mag * torch.cos(phase), mag * torch.sin(phase)
        mag = torch.exp(log_mag).clamp_(max=MAX_MAGNITUDE)
        del log_mag
        return torch.cos(phase).mul_(mag), torch.sin(phase).mul_(mag)

    def num_samples(self, frames):
        return self.istft.num_samples(frames)
