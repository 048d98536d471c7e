"""Loudness: bring a quiet prompt up to the model's level, and bring the output back down to the prompt's."""

from __future__ import annotations

from typing import Tuple, Union

import torch

from ..errors import SilentAudioError

OUTPUT_REFERENCE_RMS = 0.1  # fixed upstream: independent of the prompt's target_rms


def rms(wav: torch.Tensor) -> torch.Tensor:
    """Root mean square over every sample of ``wav``, as a 0-dim tensor of its dtype and device.

    Summed in float64 on the CPU: a float32 sum depends on the thread count (1 vs 2 threads gave values one
    ulp apart on the golden prompt), and the rms sets the prompt's scale, so one voice gave two prompts.
    """
    value = torch.sqrt(torch.mean(torch.square(wav.detach().to("cpu", torch.float64))))
    return value.to(device=wav.device, dtype=wav.dtype)


def rms_normalize(wav: torch.Tensor, target_rms: float) -> Tuple[torch.Tensor, float]:
    """Scale a prompt quieter than ``target_rms`` up to it; leave a louder one alone.

    wav: (..., N). Returns (wav, original rms). The scaling is ``wav * target_rms / rms`` evaluated left to
    right, bit for bit what the model was fed in training and in the golden prompts.
    Raises SilentAudioError when the rms is 0 (nothing to scale).
    """
    original = rms(wav)
    if not bool(original > 0):
        raise SilentAudioError(f"cannot normalise the loudness of silent audio (rms {float(original):.3g})")
    if original < target_rms:
        wav = wav * target_rms / original
    return wav, float(original)


def restore_loudness(
    wav: torch.Tensor, prompt_rms: Union[float, torch.Tensor], reference: float = OUTPUT_REFERENCE_RMS
) -> torch.Tensor:
    """Give generated speech the prompt's loudness: if ``prompt_rms < reference`` return wav * (prompt_rms / reference).

    wav: (..., N). The factor is formed in float32 first, as upstream does with its tensor rms.
    """
    factor = torch.as_tensor(prompt_rms, dtype=torch.float32)
    if factor < reference:
        return wav * (factor / reference).to(wav.device)
    return wav
