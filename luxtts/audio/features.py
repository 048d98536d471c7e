"""Log-mel features at 24 kHz, computed with torch.stft (vocos layout, as ZipVoice and Vocos consume them)."""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Optional

import torch

from ..config import MelConfig

FEATURE_SCALE = 0.1  # the acoustic model sees log-mel x 0.1
LOG_FLOOR = 1e-7


def _hz_to_mel(hz: float) -> float:
    return 2595.0 * math.log10(1.0 + hz / 700.0)


@lru_cache(maxsize=8)
def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int) -> torch.Tensor:
    """HTK-scale triangular filters without area normalisation, (n_fft // 2 + 1, n_mels), float32.

    Built in float32 in this exact order: the golden features depend on it to the last bit.
    """
    n_freqs = n_fft // 2 + 1
    all_freqs = torch.linspace(0, sample_rate // 2, n_freqs)
    mel_points = torch.linspace(_hz_to_mel(0.0), _hz_to_mel(sample_rate / 2.0), n_mels + 2)
    hz_points = 700.0 * (10.0 ** (mel_points / 2595.0) - 1.0)
    widths = hz_points[1:] - hz_points[:-1]
    offsets = hz_points.unsqueeze(0) - all_freqs.unsqueeze(1)
    rising = -offsets[:, :-2] / widths[:-1]
    falling = offsets[:, 2:] / widths[1:]
    return torch.clamp(torch.minimum(rising, falling), min=0.0)


def log_mel_spectrogram(wav: torch.Tensor, cfg: MelConfig = MelConfig(), *,
                        window: Optional[torch.Tensor] = None, filterbank: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Natural-log magnitude mel spectrogram.

    wav: (..., N) float waveform at ``cfg.sample_rate``.
    window (n_fft,) / filterbank (n_fft // 2 + 1, n_mels): a vocoder checkpoint's own buffers; None = the
    periodic Hann window / HTK filterbank.
    Returns (..., n_mels, frames); with centre padding frames = N // hop + 1.
    """
    lead = wav.shape[:-1]
    x = wav.reshape(-1, wav.shape[-1]).float()
    if window is None:
        window = torch.hann_window(cfg.n_fft, device=x.device, dtype=x.dtype)
    window = window.to(device=x.device, dtype=x.dtype)
    if cfg.padding == "same":
        pad = (cfg.n_fft - cfg.hop_length) // 2
        x = torch.nn.functional.pad(x.unsqueeze(1), (pad, pad), mode="reflect").squeeze(1)
    spec = torch.stft(
        x, cfg.n_fft, hop_length=cfg.hop_length, win_length=cfg.n_fft, window=window,
        center=cfg.padding == "center", pad_mode="reflect", normalized=False, onesided=True, return_complex=True,
    ).abs()
    fb = mel_filterbank(cfg.sample_rate, cfg.n_fft, cfg.n_mels) if filterbank is None else filterbank
    fb = fb.to(device=x.device, dtype=spec.dtype)
    mel = torch.matmul(spec.transpose(-1, -2), fb).transpose(-1, -2)
    mel = torch.log(torch.clamp(mel, min=LOG_FLOOR))
    return mel.reshape(*lead, cfg.n_mels, mel.shape[-1])


def num_frames(num_samples: int, hop_length: int = 256) -> int:
    """Frame count ZipVoice assigns to ``num_samples`` samples (round half up of samples / hop)."""
    return (num_samples + hop_length // 2) // hop_length


def prompt_features(wav: torch.Tensor, cfg: MelConfig = MelConfig()) -> torch.Tensor:
    """Unscaled log-mel of one mono 24 kHz prompt, trimmed or edge-padded to ``num_frames``.

    wav: (N,) -> (T, n_mels). Multiply by ``FEATURE_SCALE`` before feeding the acoustic model.
    """
    if wav.dim() != 1:
        raise ValueError(f"prompt_features expects a mono waveform (N,), got shape {tuple(wav.shape)}")
    mel = log_mel_spectrogram(wav, cfg).transpose(0, 1)
    target = num_frames(wav.shape[-1], cfg.hop_length)
    if mel.shape[0] >= target:
        return mel[:target].contiguous()
    repeat = mel[-1:].expand(target - mel.shape[0], -1)
    return torch.cat([mel, repeat], dim=0)
