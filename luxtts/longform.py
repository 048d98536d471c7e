"""Long text: token chunks, batches under a frame budget, per-chunk noise, and a streaming cross-fade joiner.

Memory stays bounded by one batch whatever the text length: chunks are planned up front (token ids only),
generated a batch at a time, and each finished piece of audio is handed on at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, List, Optional, Sequence

import torch

from .audio import crossfade_concat, speech_bounds
from .errors import InvalidOptionError
from .model.durations import lengths_of, predict_num_frames
from .text.split import DEFAULT_MAX_TOKENS, FEWEST, FIRST_CLAUSE

# Most target tokens per pass. The cap is a quality guard, not a speed one: past ~200 prompt + text tokens in
# one pass the distilled model inserts spurious mid-phrase pauses (FluidAudio #937/#942; see luxtts.text.split).
# None (or 0) speaks the whole text in one pass as upstream does, with that known pause risk.
DEFAULT_CHUNK_TOKENS = DEFAULT_MAX_TOKENS
# generate() and the CLI writing a file want the fewest passes; stream() and the server want first audio soon.
WHOLE_FILE_POLICY = FEWEST
STREAMING_POLICY = FIRST_CLAUSE
DEFAULT_BATCH_FRAMES = 4000
# On a CPU a batch brings no throughput (the matrices are already large), only padding and memory: measured on
# W2 (500 words, 2 cores) one chunk per call gave RTF 0.494 / 767 MB (int8) and 1.010 / 1060 MB (float32)
# against 0.526 / 903 MB and 1.021 / 1417 MB at 4000.
CPU_BATCH_FRAMES = 1
DEFAULT_CROSSFADE_MS = 50.0


def default_batch_frames(device_type: str) -> int:
    return CPU_BATCH_FRAMES if device_type == "cpu" else DEFAULT_BATCH_FRAMES


@dataclass
class ChunkInfo:
    """One chunk of a generation: its token count, model frames and audio samples (after edge trimming)."""

    tokens: int
    frames: int
    samples: int


@dataclass(frozen=True)
class Chunk:
    """One piece of the text spoken in one pass: its token ids and the frames the model will give it."""

    index: int
    tokens: List[int]
    total_frames: int  # prompt + generated, as the model will lay them out


def plan_chunks(token_chunks: Sequence[Sequence[int]], prompt_frames: int, prompt_tokens: int, speed: float) -> List[Chunk]:
    """Attach to each chunk the total frame count the model predicts for it (prompt included)."""
    n = len(token_chunks)
    totals = predict_num_frames(
        torch.full((n,), prompt_frames, dtype=torch.int64),
        torch.full((n,), prompt_tokens, dtype=torch.int64),
        lengths_of(token_chunks),
        speed,
    )
    return [Chunk(i, list(t), int(f)) for i, (t, f) in enumerate(zip(token_chunks, totals.tolist(), strict=True))]


def batches(chunks: Sequence[Chunk], max_frames: int) -> Iterator[List[Chunk]]:
    """Consecutive chunks grouped so that batch size x longest item stays within ``max_frames``.

    Order is kept (so audio can be streamed as it is made); a chunk longer than the budget goes alone.
    """
    if isinstance(max_frames, bool) or not isinstance(max_frames, int) or max_frames < 1:
        raise InvalidOptionError(f"batch_frames must be a positive integer, got {max_frames!r}")
    batch: List[Chunk] = []
    longest = 0
    for chunk in chunks:
        if batch and max(longest, chunk.total_frames) * (len(batch) + 1) > max_frames:
            yield batch
            batch, longest = [], 0
        batch.append(chunk)
        longest = max(longest, chunk.total_frames)
    if batch:
        yield batch


def batch_noise(sizes: Sequence[int], feat_dim: int, generator: Optional[torch.Generator]) -> torch.Tensor:
    """(B, max(sizes), feat_dim) float32 on the CPU: item i gets its own draw of sizes[i] frames, zeros after.

    Drawing per chunk, in chunk order, makes a seeded result independent of how chunks are batched.
    """
    out = torch.zeros(len(sizes), max(sizes), feat_dim)
    for i, n in enumerate(sizes):
        out[i, :n] = torch.randn(n, feat_dim, generator=generator)
    return out


def skip_noise(sizes: Sequence[int], feat_dim: int, generator: Optional[torch.Generator]) -> None:
    """Advance ``generator`` past the draws :func:`batch_noise` makes for chunks of ``sizes`` frames."""
    if generator is None:
        return
    for n in sizes:
        torch.randn(n, feat_dim, generator=generator)


def trim_joins(wav: torch.Tensor, sample_rate: int, trim_start: bool, trim_end: bool) -> torch.Tensor:
    """Cut silence off the chosen edges of ``wav`` (N,), keeping a short margin (see audio.trim_silence)."""
    if not (trim_start or trim_end) or wav.shape[-1] == 0:
        return wav
    start, end = speech_bounds(wav, sample_rate)
    return wav[(start if trim_start else 0) : (end if trim_end else wav.shape[-1])]


class Joiner:
    """Cross-fades chunks as they arrive and hands back the audio that can no longer change.

    The last ``fade`` samples are held back until the next chunk (or :meth:`finish`). The pieces concatenated
    equal ``crossfade_concat(chunks)``: sum of lengths minus one overlap per join.
    """

    def __init__(self, sample_rate: int, fade_ms: float) -> None:
        self.sample_rate = sample_rate
        self.fade_ms = fade_ms
        self.fade = int(round(fade_ms * sample_rate / 1000.0))
        self._held: Optional[torch.Tensor] = None

    def push(self, wav: torch.Tensor) -> torch.Tensor:
        """Add the next chunk (N,); returns the finished audio (possibly empty)."""
        joined = wav if self._held is None else crossfade_concat([self._held, wav], self.sample_rate, self.fade_ms)
        cut = max(joined.shape[-1] - self.fade, 0)
        self._held = joined[cut:]
        return joined[:cut]

    @property
    def held(self) -> Optional[torch.Tensor]:
        """The audio held back for the next join (None before the first chunk)."""
        return self._held

    def restore(self, held: Optional[torch.Tensor]) -> None:
        """Continue a join sequence from the :attr:`held` audio another Joiner had."""
        self._held = held

    def finish(self) -> torch.Tensor:
        held, self._held = self._held, None
        return held if held is not None else torch.zeros(0)
