"""ZipVoice-Distill's objective: the student's one Euler step over [t, t + d1 + d2] matches the teacher's two
steps (t -> t + d1 -> t + d1 + d2) at the same guidance scale, which the student takes as an input.

Stage 1's teacher is a base model with real classifier-free guidance; stage 2's is an EMA copy of the student.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Optional, Sequence

import torch
from torch import Tensor

from ..model.zipvoice import ZipVoiceModel
from .objective import MASK_SPAN, guided_velocity, hidden_span_mask, train_text_condition

GUIDANCE_RANGES = {1: (0.0, 2.0), 2: (1.0, 3.0)}  # guidance scale drawn uniformly per utterance, per stage
MAX_DELTA = 0.3


def euler_step(model: ZipVoiceModel, x: Tensor, t_start: float, t_end: float, text: Tensor, speech: Tensor,
               padding_mask: Tensor, guidance_scale: Tensor) -> Tensor:
    """One guided Euler step from t_start to t_end (times taken in float32, as the reference solver does)."""
    times = torch.linspace(t_start, t_end, 2)
    v = guided_velocity(model, times[0], x, text, speech, padding_mask, guidance_scale)
    return x + v * (times[1] - times[0]).to(x.device)


@dataclass
class DistillDraws:
    x0: Tensor  # (B, T, F)
    speech_condition_mask: Tensor  # (B, T) bool, True = hidden
    t_value: float
    delta_fix: float
    delta_ema: float
    guidance_scale: Tensor  # (B, 1, 1)


def draw_distill(features: Tensor, features_lens: Tensor, stage: int, rng: random.Random,
                 generator: Optional[torch.Generator] = None) -> DistillDraws:
    """t ~ U(0, 1), d1 ~ U(0, min(0.3, 1 - t)), d2 ~ U(0, min(0.3, 1 - t - d1)) per batch; x0, the hidden span
    and the guidance scale per utterance."""
    if stage not in GUIDANCE_RANGES:
        raise ValueError(f"stage must be 1 or 2, got {stage!r}")
    b, length, _ = features.shape
    dev = features.device
    t_value = rng.random()
    delta_fix = rng.uniform(0.0, min(MAX_DELTA, 1 - t_value))
    delta_ema = rng.uniform(0.0, min(MAX_DELTA, 1 - t_value - delta_fix))
    lo, hi = GUIDANCE_RANGES[stage]
    x0 = torch.randn(features.shape, generator=generator, device=dev)
    guidance = torch.rand((b, 1, 1), generator=generator, device=dev) * (hi - lo) + lo
    fraction = torch.rand((b,), generator=generator, device=dev) * (MASK_SPAN[1] - MASK_SPAN[0]) + MASK_SPAN[0]
    start = torch.rand((b,), generator=generator, device=dev)
    mask = hidden_span_mask(features_lens.to(dev), length, fraction, start)
    return DistillDraws(x0, mask, t_value, delta_fix, delta_ema, guidance)


@dataclass
class DistillOutput:
    loss: Tensor  # ()
    xt: Tensor
    teacher_x_mid: Tensor
    target_x1: Tensor
    pred_x1: Tensor


def distill_loss(
    student: ZipVoiceModel, teacher: ZipVoiceModel, tokens: Sequence[Sequence[int]], features: Tensor,
    features_lens: Tensor, x0: Tensor, speech_condition_mask: Tensor, t_value: float, delta_fix: float,
    delta_ema: float, guidance_scale: Tensor,
) -> DistillOutput:
    """Mean over hidden non-pad frames of the squared difference of the student's and the teacher's average
    velocities over [t_value, t_value + delta_fix + delta_ema]. The teacher runs without gradients."""
    if not student.is_distill:
        raise ValueError("the student must be a distilled model (it takes the guidance scale as an input)")
    b, length, _ = features.shape
    features_lens = features_lens.to(features.device)
    t = torch.full((b, 1, 1), t_value, dtype=torch.float32, device=features.device)
    xt = features * t + x0 * (1 - t)
    speech = torch.where(speech_condition_mask[:, :, None], 0.0, features)
    t_mid = t_value + delta_fix
    t_dest = t_mid + delta_ema
    with torch.no_grad():
        text_t, pad = train_text_condition(teacher, tokens, features_lens, length)
        x_mid = euler_step(teacher, xt, t_value, t_mid, text_t, speech, pad, guidance_scale)
        target = euler_step(teacher, x_mid, t_mid, t_dest, text_t, speech, pad, guidance_scale)
    text_s, pad = train_text_condition(student, tokens, features_lens, length)
    pred = euler_step(student, xt, t_value, t_dest, text_s, speech, pad, guidance_scale)
    span = t_dest - t
    loss_mask = speech_condition_mask & ~pad
    pred_v = (pred - xt) / span
    target_v = (target - xt) / span
    loss = (pred_v[loss_mask] - target_v[loss_mask]).square().mean()
    return DistillOutput(loss, xt, x_mid, target, pred)
