"""ZipVoice's flow-matching objective on the inference modules, with every random draw an explicit input.

Shapes: features (B, T, F) scaled log-mel (x 0.1), features_lens (B,) int64, tokens a list of B id lists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor

from ..model.durations import frame_token_index, lengths_of
from ..model.zipvoice import ZipVoiceModel

MASK_SPAN = (0.7, 1.0)  # fraction of each utterance hidden from the speech condition


def padding_mask_of(features_lens: Tensor, num_frames: int) -> Tensor:
    """(B, num_frames) bool, True = padding."""
    return torch.arange(num_frames, device=features_lens.device)[None, :] >= features_lens[:, None]


def train_text_condition(
    model: ZipVoiceModel, tokens: Sequence[Sequence[int]], features_lens: Tensor, num_frames: int,
) -> Tuple[Tensor, Tensor]:
    """Encoded tokens spread over each utterance's REAL frame count (average upsampling, as inference spreads
    them over its predicted count). Returns text_condition (B, num_frames, F) and padding_mask (B, num_frames)."""
    encoded = model.encode_tokens(tokens)
    index = frame_token_index(features_lens, lengths_of(tokens), num_frames).to(encoded.device)
    text = torch.gather(encoded, 1, index[:, :, None].expand(-1, -1, encoded.shape[-1]))
    return text, padding_mask_of(features_lens.to(encoded.device), num_frames)


def decoder_velocity(
    model: ZipVoiceModel, t: Tensor, xt: Tensor, text_condition: Tensor, speech_condition: Tensor,
    padding_mask: Optional[Tensor], guidance_scale: Optional[Tensor] = None,
) -> Tensor:
    """One decoder call: t scalar or (B,)/(B, 1, 1); guidance_scale likewise (distilled models only). (B, T, F)."""
    dec = model.fm_decoder
    b, length, _ = xt.shape
    dtype = model.dtype
    t = torch.as_tensor(t, dtype=torch.float32, device=xt.device).reshape(-1).expand(b)
    guidance = None
    if model.is_distill:
        if guidance_scale is None:
            raise ValueError("a distilled model needs guidance_scale")
        g = torch.as_tensor(guidance_scale, dtype=torch.float32, device=xt.device).reshape(-1).expand(b)
        guidance = dec.embed_guidance(g)
    contexts = dec.prepare(length, padding_mask)
    x = torch.cat([xt, text_condition, speech_condition], dim=2).to(dtype)
    return dec(x, contexts, dec.embed_time(t, guidance)).float()


def guided_velocity(
    model: ZipVoiceModel, t: float, x: Tensor, text_condition: Tensor, speech_condition: Tensor,
    padding_mask: Tensor, guidance_scale: Tensor,
) -> Tensor:
    """Velocity with guidance at one time t for all items: real classifier-free guidance by a doubled batch for a
    base model (the unconditional half keeps the speech condition while t <= 0.5, with the scale doubled), the
    guidance-scale input for a distilled one. guidance_scale: (B, 1, 1) or scalar."""
    g = torch.as_tensor(guidance_scale, dtype=torch.float32, device=x.device)
    if model.is_distill:
        return decoder_velocity(model, t, x, text_condition, speech_condition, padding_mask, g)
    if bool((g == 0).all()):
        return decoder_velocity(model, t, x, text_condition, speech_condition, padding_mask)
    zeros = torch.zeros_like(speech_condition)
    if float(t) > 0.5:
        speech2 = torch.cat([zeros, speech_condition])
    else:
        g = g * 2
        speech2 = torch.cat([speech_condition, speech_condition])
    out = decoder_velocity(
        model, t, torch.cat([x, x]), torch.cat([torch.zeros_like(text_condition), text_condition]), speech2,
        None if padding_mask is None else torch.cat([padding_mask, padding_mask]),
    )
    uncond, cond = out.chunk(2, dim=0)
    return (1 + g) * cond - g * uncond


def hidden_span_mask(features_lens: Tensor, num_frames: int, fraction: Tensor, start: Tensor) -> Tensor:
    """(B, num_frames) bool, True = hidden: a span of int(fraction * len) frames starting at
    int(start * (len - span)); fraction, start: (B,) float32 draws (fraction in MASK_SPAN, start in [0, 1))."""
    size = (fraction * features_lens).to(torch.int64)
    first = (start * (features_lens - size)).to(torch.int64)
    frames = torch.arange(num_frames, device=features_lens.device)[None, :]
    return (frames >= first[:, None]) & (frames < (first + size)[:, None])


@dataclass
class FlowMatchingDraws:
    """The random inputs of one flow-matching step."""

    noise: Tensor  # (B, T, F)
    t: Tensor  # (B, 1, 1)
    speech_condition_mask: Tensor  # (B, T) bool, True = hidden from the speech condition
    text_dropped: Tensor  # (B,) bool, True = text condition zeroed (classifier-free guidance training)


def draw_flow_matching(features: Tensor, features_lens: Tensor, condition_drop_ratio: float,
                       generator: Optional[torch.Generator] = None) -> FlowMatchingDraws:
    """Draw ZipVoice's random inputs: x0 ~ N(0, I), t ~ U(0, 1) per item, a 70-100 % hidden span per item."""
    b, length, _ = features.shape
    dev = features.device
    noise = torch.randn(features.shape, generator=generator, device=dev, dtype=torch.float32)
    t = torch.rand((b, 1, 1), generator=generator, device=dev)
    fraction = torch.rand((b,), generator=generator, device=dev) * (MASK_SPAN[1] - MASK_SPAN[0]) + MASK_SPAN[0]
    start = torch.rand((b,), generator=generator, device=dev)
    mask = hidden_span_mask(features_lens.to(dev), length, fraction, start)
    dropped = torch.rand((b,), generator=generator, device=dev) < condition_drop_ratio
    return FlowMatchingDraws(noise, t, mask, dropped)


@dataclass
class FlowMatchingOutput:
    loss: Tensor  # () mean squared velocity error over hidden, non-pad frames
    velocity: Tensor  # (B, T, F)
    text_condition: Tensor  # (B, T, F)
    padding_mask: Tensor  # (B, T)


def flow_matching_loss(
    model: ZipVoiceModel, tokens: Sequence[Sequence[int]], features: Tensor, features_lens: Tensor,
    noise: Tensor, t: Tensor, speech_condition_mask: Tensor, text_dropped: Optional[Tensor] = None,
) -> FlowMatchingOutput:
    """ZipVoice's training loss: x_t = t x1 + (1 - t) x0; predict x1 - x0 on the frames hidden from the speech
    condition. A distilled model is trained here at guidance scale 0 only (its own training is distill.py)."""
    length = features.shape[1]
    features_lens = features_lens.to(features.device)
    text, padding_mask = train_text_condition(model, tokens, features_lens, length)
    if text_dropped is not None:
        text = text * (~text_dropped.to(text.device))[:, None, None].to(text.dtype)
    speech = torch.where(speech_condition_mask[:, :, None], 0.0, features)
    t = t.reshape(-1, 1, 1).to(features.device, torch.float32)
    xt = features * t + noise * (1 - t)
    target = features - noise
    guidance = torch.zeros(features.shape[0]) if model.is_distill else None
    vt = decoder_velocity(model, t, xt, text, speech, padding_mask, guidance)
    loss_mask = speech_condition_mask & ~padding_mask
    loss = (vt[loss_mask] - target[loss_mask]).square().mean()
    return FlowMatchingOutput(loss, vt, text, padding_mask)
