"""Output editing: trim silent edges, join chunks with a cross-fade."""

from __future__ import annotations

import math
from typing import List, Sequence, Tuple

import torch

from ..errors import InvalidOptionError
from .resample import check_rate

TRIM_THRESHOLD_DB = -50.0  # the level ZipVoice's edge trimming treats as silence
TRIM_KEEP_MS = 100.0
TRIM_FRAME_MS = 10.0
FADE_MS = 50.0
FADE_CURVES = ("equal_power", "linear")


def _ms_to_samples(ms: float, sample_rate: int, what: str) -> int:
    sample_rate = check_rate("sample_rate", sample_rate)
    if not math.isfinite(ms) or ms < 0:
        raise InvalidOptionError(f"{what} must be a non-negative number of milliseconds, got {ms!r}")
    return int(round(ms * sample_rate / 1000.0))


def trim_silence(
    wav: torch.Tensor,
    sample_rate: int,
    threshold_db: float = TRIM_THRESHOLD_DB,
    keep_ms: float = TRIM_KEEP_MS,
    frame_ms: float = TRIM_FRAME_MS,
) -> torch.Tensor:
    """Cut silence off both edges of ``wav`` (N,) or (C, N), keeping ``keep_ms`` of it on each side.

    A frame (``frame_ms`` long, no overlap) is silent when its rms, over all channels, is below
    ``threshold_db`` dBFS (1.0 = 0 dB). Silence inside the speech is left alone. Never returns an empty
    waveform: if every frame is silent the first ``keep_ms`` (at least one sample) is returned.
    """
    start, end = speech_bounds(wav, sample_rate, threshold_db, keep_ms, frame_ms)
    return wav[..., start:end]


def speech_bounds(
    wav: torch.Tensor,
    sample_rate: int,
    threshold_db: float = TRIM_THRESHOLD_DB,
    keep_ms: float = TRIM_KEEP_MS,
    frame_ms: float = TRIM_FRAME_MS,
) -> Tuple[int, int]:
    """The sample range [start, end) that :func:`trim_silence` keeps."""
    n = wav.shape[-1]
    keep = _ms_to_samples(keep_ms, sample_rate, "keep_ms")
    frame = max(1, _ms_to_samples(frame_ms, sample_rate, "frame_ms"))
    if n == 0:
        return 0, 0
    loud = _loud_frames(wav, frame, threshold_db)
    if loud.numel() == 0:
        return 0, min(n, max(1, keep))
    return max(0, int(loud[0]) * frame - keep), min(n, (int(loud[-1]) + 1) * frame + keep)


def _loud_frames(wav: torch.Tensor, frame: int, threshold_db: float) -> torch.Tensor:
    """Indices of the frames whose rms is at or above ``threshold_db``."""
    x = wav.reshape(-1, wav.shape[-1]).float()
    pad = (-x.shape[-1]) % frame
    # The last partial frame is judged on its own samples: pad its energy with zeros, count only real samples.
    power = torch.nn.functional.pad(x.square(), (0, pad)).reshape(x.shape[0], -1, frame).sum(dim=(0, 2))
    counts = torch.full_like(power, float(frame * x.shape[0]))
    if pad:
        counts[-1] = float((frame - pad) * x.shape[0])
    threshold = 10.0 ** (threshold_db / 10.0)  # on power, so that rms >= 10 ** (dB / 20)
    return torch.nonzero(power / counts >= threshold).flatten()


def crossfade_concat(
    chunks: Sequence[torch.Tensor], sample_rate: int, fade_ms: float = FADE_MS, curve: str = "equal_power"
) -> torch.Tensor:
    """Join chunks (each (N_i,) or (C, N_i)) end to start, overlapping each join by a cross-fade.

    Each join overlaps k = min(fade, samples joined so far, next chunk's length) samples, so the output has
    sum(N_i) - sum(k) samples: sum(N_i) - (n - 1) * fade when no chunk is shorter than the fade.
    ``curve``: "equal_power" (sin/cos gains, steady loudness across unrelated sounds such as two sentences)
    or "linear" (gains sum to one, right for identical material). Gains are sampled strictly inside (0, 1),
    so both sides contribute to every overlapped sample.
    """
    if curve not in FADE_CURVES:
        raise InvalidOptionError(f"curve must be one of {FADE_CURVES}, got {curve!r}")
    if not chunks:
        raise InvalidOptionError("crossfade_concat needs at least one chunk, got none")
    fade = _ms_to_samples(fade_ms, sample_rate, "fade_ms")
    _check_same_layout(chunks)
    done: List[torch.Tensor] = []  # finished pieces; ``tail`` is the last, still open one
    tail = chunks[0]
    total = tail.shape[-1]
    for nxt in chunks[1:]:
        k = min(fade, total, nxt.shape[-1])
        if k == 0:
            done.append(tail)
            tail = nxt
        else:
            if tail.shape[-1] < k:  # short chunks: the overlap reaches back over earlier pieces
                tail = torch.cat(done + [tail], dim=-1)
                done.clear()
            fade_out, fade_in = _gains(k, curve, tail)
            done.append(tail[..., :-k])
            tail = torch.cat([tail[..., -k:] * fade_out + nxt[..., :k] * fade_in, nxt[..., k:]], dim=-1)
        total += nxt.shape[-1] - k
    return torch.cat(done + [tail], dim=-1)


def _gains(k: int, curve: str, like: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    # Built in float64 on the CPU (not every accelerator has float64), then moved.
    t = torch.arange(1, k + 1, dtype=torch.float64) / (k + 1)
    if curve == "linear":
        fade_in = t
        fade_out = 1.0 - t
    else:
        fade_in = torch.sin(t * (math.pi / 2))
        fade_out = torch.cos(t * (math.pi / 2))
    return fade_out.to(like.device, like.dtype), fade_in.to(like.device, like.dtype)


def _check_same_layout(chunks: Sequence[torch.Tensor]) -> None:
    lead = tuple(chunks[0].shape[:-1])
    for i, c in enumerate(chunks):
        if not isinstance(c, torch.Tensor) or c.dim() not in (1, 2) or tuple(c.shape[:-1]) != lead:
            shape = tuple(c.shape) if isinstance(c, torch.Tensor) else type(c).__name__
            raise InvalidOptionError(
                f"chunk {i} has shape {shape}; every chunk must be a tensor (N,) or (C, N) with the same C as chunk 0 {lead}"
            )
