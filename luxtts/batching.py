"""Chunks of several generations in one model call, each generation keeping its own noise, joins and progress.

:meth:`LuxTTS.plan` checks a request and cuts it into chunks; the :class:`Generation` it returns is advanced by
:func:`run_batch`, which pads the chunks of any number of compatible generations (any voices, texts and seeds;
the same steps, t_shift, guidance and speed: :attr:`Generation.key`) into one ``model.sample`` call and hands
each generation the audio of its own chunks. ``LuxTTS.stream`` is :func:`stream` over one generation; the server batches across
requests with the same two calls, so a request's audio does not depend on who it shared a call with (up to the
float rounding of a padded batch: the tests measure it).
"""

from __future__ import annotations

import time
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import torch

from . import longform
from .errors import InvalidOptionError
from .longform import Chunk, ChunkInfo
from .weight_source import release_free_memory

Progress = Callable[[int, int], None]


class Generation:
    """One checked, planned generation: its chunks, voice, resolved options, seeded noise stream and joiner.

    Chunks are generated in order by :func:`run_batch`; :attr:`done` counts those finished (a resumed job
    starts past the chunks it skips, whose noise is drawn all the same so that later chunks get theirs).
    """

    def __init__(self, owner, chunks: List[Chunk], voice, options, speed: float, noise: Optional[torch.Tensor],
                 smooth: bool, out_rate: int, joiner: longform.Joiner, trim_joins: bool,
                 progress: Optional[Progress], stats: Dict[str, float], chunk_infos: Optional[List[ChunkInfo]],
                 start: float, start_chunk: int = 0) -> None:
        self.owner = owner
        self.chunks = chunks
        self.voice = voice
        self.options = options
        self.speed = speed
        self.noise = noise
        self.smooth = smooth
        self.out_rate = out_rate
        self.joiner = joiner
        self.trim_joins = trim_joins
        self.progress = progress
        self.stats = stats
        self.chunk_infos = chunk_infos
        self.start = start
        self.generator = None if options.seed is None else torch.Generator().manual_seed(options.seed)
        longform.skip_noise([c.total_frames for c in chunks[:start_chunk]], voice.features.shape[-1],
                            self.generator)
        self.done = start_chunk

    @property
    def total(self) -> int:
        return len(self.chunks)

    @property
    def finished(self) -> bool:
        return self.done >= len(self.chunks)

    @property
    def key(self) -> Tuple[int, float, float, float]:
        """What chunks sharing a model call must have in common: steps, t_shift, guidance and speed. (The
        model takes one speed per call, for the frame counts it predicts; voices, texts and seeds may differ.)"""
        o = self.options
        return (o.num_steps, o.t_shift, o.guidance_scale, self.speed)

    def upcoming(self) -> List[Chunk]:
        """The chunks still to generate, next first."""
        return self.chunks[self.done:]

    def report(self) -> None:
        """Call ``progress(done, total)``: a driver does so once the audio of its last call has been handed on."""
        if self.progress is not None:
            self.progress(self.done, len(self.chunks))

    def _accept(self, chunk: Chunk, wav: torch.Tensor, frames: int) -> torch.Tensor:
        """Chunk ``chunk``'s audio (trimmed at joins, cross-faded) -> the audio that is now final."""
        first, last = chunk.index == 0, chunk.index == len(self.chunks) - 1
        wav = longform.trim_joins(wav, self.out_rate, self.trim_joins and not first, self.trim_joins and not last)
        if self.chunk_infos is not None:
            self.chunk_infos.append(ChunkInfo(len(chunk.tokens), int(frames), wav.shape[-1]))
        piece = self.joiner.push(wav)
        if last:  # the final tail has nothing to fade into: it belongs to the last chunk's piece
            piece = torch.cat([piece, self.joiner.finish()])
        self.done = chunk.index + 1
        if self.finished:
            self.stats["total"] = time.perf_counter() - self.start
        return piece


def check_batch(tts, items: Sequence[Tuple[Generation, Chunk]]) -> None:
    """Raise InvalidOptionError unless ``items`` can share one call: same model, same :attr:`Generation.key`,
    and each generation's chunks its next ones, in order."""
    if not items:
        raise InvalidOptionError("run_batch needs at least one (generation, chunk) pair")
    key = items[0][0].key
    expected: Dict[int, int] = {}
    for gen, chunk in items:
        if gen.owner is not tts:
            raise InvalidOptionError("a generation can only be run by the LuxTTS that planned it")
        if gen.key != key:
            raise InvalidOptionError(f"chunks sharing a call need the same (num_steps, t_shift, guidance_scale, "
                                     f"speed); got {key} and {gen.key}")
        nxt = expected.get(id(gen), gen.done)
        if nxt >= len(gen.chunks) or gen.chunks[nxt] is not chunk:
            raise InvalidOptionError(f"chunk {chunk.index} is not the next chunk of its generation (that is {nxt})")
        expected[id(gen)] = nxt + 1


def run_batch(tts, items: Sequence[Tuple[Generation, Chunk]]) -> List[torch.Tensor]:
    """Generate ``items`` (each a generation and its next chunk; a generation may bring several chunks, in
    order) in one model call; returns, per item, the audio that became final ((N,) float32 CPU, maybe empty).

    Each generation's timings grow by the call's acoustic time and its own vocoder time. If the model call
    raises, no generation has moved: their noise streams are put back, so they can be run again.
    """
    check_batch(tts, items)
    gens = list({id(g): g for g, _ in items}.values())
    states = [g.generator.get_state() if g.generator is not None else None for g in gens]
    t0 = time.perf_counter()
    try:
        feats, lens = _acoustic(tts, items)
    except BaseException:
        for g, state in zip(gens, states):
            if state is not None:
                g.generator.set_state(state)
        raise
    acoustic = time.perf_counter() - t0
    for g in gens:
        g.stats["acoustic"] += acoustic
    pieces = []
    for i, ((gen, chunk), frames) in enumerate(zip(items, lens.tolist(), strict=True)):
        t1 = time.perf_counter()
        wav = tts._vocode(feats[i, : int(frames)], gen.voice.rms, gen.smooth, gen.out_rate)
        gen.stats["vocoder"] += time.perf_counter() - t1
        pieces.append(gen._accept(chunk, wav, frames))
    del feats
    if tts.device.type == "cpu":
        release_free_memory()  # freed activations go back to the OS between calls: RSS stays flat
    return pieces


def _acoustic(tts, items: Sequence[Tuple[Generation, Chunk]]) -> Tuple[torch.Tensor, torch.Tensor]:
    """One ``model.sample`` over the items: prompts padded to the longest, each item's own noise."""
    gen0 = items[0][0]
    o = gen0.options
    voices = [g.voice for g, _ in items]
    width = max(v.num_frames for v in voices)
    feat_dim = voices[0].features.shape[-1]
    prompts = torch.zeros(len(items), width, feat_dim, dtype=voices[0].features.dtype)
    for i, v in enumerate(voices):
        prompts[i, : v.num_frames] = v.features
    sizes = [c.total_frames for _, c in items]
    noise = torch.zeros(len(items), max(sizes), feat_dim)
    for i, (gen, chunk) in enumerate(items):
        # Drawn per chunk, in each generation's chunk order: the same noise whoever shares the call.
        if gen.noise is not None:
            noise[i, : chunk.total_frames] = gen.noise[0]
        else:
            noise[i, : chunk.total_frames] = longform.batch_noise([chunk.total_frames], feat_dim, gen.generator)[0]
    device = tts.device
    return tts.model.sample(
        tokens=[c.tokens for _, c in items], prompt_tokens=[v.tokens for v in voices],
        prompt_features=prompts.to(device),
        prompt_features_lens=torch.tensor([v.num_frames for v in voices], dtype=torch.int64, device=device),
        speed=gen0.speed, t_shift=o.t_shift, guidance_scale=o.guidance_scale, num_step=o.num_steps, noise=noise,
    )


def stream(tts, gen: Generation, batch_frames: int) -> Iterator[torch.Tensor]:
    """Generate ``gen`` alone, its consecutive chunks batched under ``batch_frames`` (batch size x longest
    chunk's frames); yields the non-empty pieces, reporting progress after each call's pieces."""
    for batch in longform.batches(gen.upcoming(), batch_frames):
        pieces = run_batch(tts, [(gen, c) for c in batch])
        for piece in pieces:
            if piece.numel():
                yield piece
        # After the yields: a caller that records its progress (luxtts speak --resume) has the audio by now.
        gen.report()
    gen.stats["total"] = time.perf_counter() - gen.start
