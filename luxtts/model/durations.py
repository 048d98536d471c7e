"""Frame counts and frame-to-token alignment by average upsampling (no duration model)."""

from __future__ import annotations

from typing import List, Sequence

import torch
from torch import Tensor


def predict_num_frames(
    prompt_frames: Tensor, prompt_token_lens: Tensor, token_lens: Tensor, speed: float
) -> Tensor:
    """Total frames per item: prompt + ceil(prompt_frames / prompt_tokens * target_tokens / speed), (B,) int64.

    Evaluated in float32 on the CPU in exactly this order, as the reference does, so that the rounding (and hence
    every frame count) is identical.
    """
    prompt_frames = prompt_frames.detach().to("cpu", torch.int64)
    ratio = prompt_frames / prompt_token_lens.to("cpu", torch.int64).to(torch.float32)
    generated = torch.ceil(ratio * token_lens.to("cpu", torch.int64).to(torch.float32) / speed)
    return prompt_frames + generated.to(torch.int64)


def pad_token_ids(tokens: Sequence[Sequence[int]], pad_id: int) -> Tensor:
    """(B, max_len + 1) int64: every sequence gets at least one trailing pad (frames past the average
    alignment read the encoder output at that slot)."""
    width = max(len(t) for t in tokens) + 1
    return torch.tensor([list(t) + [pad_id] * (width - len(t)) for t in tokens], dtype=torch.int64)


def frame_token_index(frame_lens: Tensor, token_lens: Tensor, num_frames: int) -> Tensor:
    """(B, num_frames) int64: the token each frame reads. Every token gets frame_len // token_len frames; the
    remaining frames (and padding frames) read slot ``token_len``, the trailing pad."""
    frame_lens = frame_lens.to("cpu", torch.int64)
    token_lens = token_lens.to("cpu", torch.int64)
    per_token = (frame_lens // token_lens)[:, None]
    frames = torch.arange(num_frames)[None, :]
    index = torch.minimum(frames // per_token.clamp(min=1), token_lens[:, None])
    return torch.where(per_token > 0, index, token_lens[:, None])


def lengths_of(tokens: Sequence[Sequence[int]]) -> Tensor:
    """(B,) int64 lengths of token lists."""
    return torch.tensor([len(t) for t in tokens], dtype=torch.int64)


def concat_tokens(prompt_tokens: Sequence[Sequence[int]], tokens: Sequence[Sequence[int]]) -> List[List[int]]:
    """Prompt transcript followed by target text, per item."""
    return [list(p) + list(t) for p, t in zip(prompt_tokens, tokens)]
