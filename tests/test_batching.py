"""Chunks of different generations in one model call (luxtts.batching) against each generation run alone.

Batched audio is not bit-identical to solo audio: the flow decoder's downsampling stacks average groups of 2 or
4 frames, and the last group of an item shorter than the batch's longest holds padding where a solo run repeats
the item's own last frame (upstream's batched inference does the same). Items whose frame count is a multiple
of 4, or the batch's longest, come out equal up to float rounding; the others differ mostly in their last few
frames. The bounds below are what that costs on the golden model, measured (see the numbers in each test).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from golden_model import pipeline_cases, prompt_wav

from luxtts.batching import check_batch, run_batch
from luxtts.errors import InvalidOptionError

TRANSCRIPT = pipeline_cases()[0]["prompt_text"]
TEXTS = [
    "Good morning, and welcome to the station. The next train to the city leaves from platform two in ten minutes.",
    "The quick brown fox jumps over the lazy dog near the quiet river bank.",
    "One, two, three. Four!",
]
SEEDS = [3, 5, 9]
# Measured on the golden model (CPU, float32, 2026-11-30): worst SNR 32.0 dB, worst max abs difference 0.011
# (first test; the longest item of a call: 125 dB, 9e-8). Bounds with some margin; a bug (another item's noise, a joiner mixed up, a shifted prompt) gives ~0 dB.
MIN_SNR_DB = 25.0
MAX_ABS_DIFF = 0.03


@pytest.fixture(scope="module")
def voices(tts):
    """Two different voices: the ARCTIC prompt, and the same recording played 20 % fast (higher, shorter)."""
    import soundfile as sf

    samples, rate = sf.read(str(prompt_wav()), dtype="float32")
    return [tts.encode_prompt(str(prompt_wav()), text=TRANSCRIPT),
            tts.encode_prompt((samples, int(rate * 1.2)), text=TRANSCRIPT)]


def _specs(voices):
    return [dict(text=TEXTS[0], prompt=voices[0], seed=SEEDS[0]),
            dict(text=TEXTS[1], prompt=voices[1], seed=SEEDS[1]),
            dict(text=TEXTS[2], prompt=voices[0], seed=SEEDS[2])]


def _snr_db(ref: np.ndarray, got: np.ndarray) -> float:
    noise = float(((ref - got) ** 2).sum())
    return float("inf") if noise == 0 else 10 * np.log10(float((ref ** 2).sum()) / noise)


def _solo(tts, spec, **kw):
    progress = []
    result = tts.generate(spec["text"], spec["prompt"], seed=spec["seed"], chunk_policy="first_clause",
                          progress=lambda d, t: progress.append((d, t)), **kw)
    return result, progress


def _batched(tts, specs, **kw):
    """Every round: the next chunk of each unfinished generation, all in one call."""
    progress = [[] for _ in specs]
    infos = [[] for _ in specs]
    gens = [tts.plan(s["text"], s["prompt"], seed=s["seed"], chunk_infos=infos[i],
                     progress=lambda d, t, i=i: progress[i].append((d, t)), **kw) for i, s in enumerate(specs)]
    pieces = [[] for _ in specs]
    sizes = []
    while not all(g.finished for g in gens):
        live = [i for i, g in enumerate(gens) if not g.finished]
        out = run_batch(tts, [(gens[i], gens[i].upcoming()[0]) for i in live])
        sizes.append(len(live))
        for i, piece in zip(live, out):
            pieces[i].append(piece)
            gens[i].report()
    return [torch.cat(p).numpy() for p in pieces], infos, progress, sizes


def test_batched_generations_match_their_solo_runs(tts, voices):
    specs = _specs(voices)
    audio, infos, progress, sizes = _batched(tts, specs)
    assert sizes[0] == 3 and max(sizes) == 3  # they did share calls
    for i, spec in enumerate(specs):
        solo, solo_progress = _solo(tts, spec)
        ref = solo.audio.numpy()
        assert audio[i].shape == ref.shape
        assert [(c.tokens, c.frames, c.samples) for c in infos[i]] == \
            [(c.tokens, c.frames, c.samples) for c in solo.chunks]
        assert progress[i] == solo_progress  # one chunk per call both ways
        diff = float(np.abs(audio[i] - ref).max())
        snr = _snr_db(ref, audio[i])
        print(f"generation {i}: {len(infos[i])} chunk(s), max abs diff {diff:.2e}, SNR {snr:.1f} dB")
        assert diff < MAX_ABS_DIFF and snr > MIN_SNR_DB, (i, diff, snr)
    assert len(infos[0]) >= 2  # the long text crossed calls with its joiner state


def test_other_speeds_and_rates_keep_their_own_settings(tts, voices):
    # speed is one number per model call (it sets the predicted frame counts): equal speeds share a call
    specs = [dict(s, text=TEXTS[1]) for s in _specs(voices)]
    kw = dict(speed=1.4, sample_rate=24000, crossfade_ms=20.0)
    audio, infos, _, sizes = _batched(tts, specs, **kw)
    assert sizes == [3]
    for i, spec in enumerate(specs):
        solo, _ = _solo(tts, spec, **kw)
        assert solo.sample_rate == 24000 and audio[i].shape == solo.audio.shape
        snr = _snr_db(solo.audio.numpy(), audio[i])
        print(f"speed 1.4 at 24 kHz, generation {i}: SNR {snr:.1f} dB")
        assert snr > MIN_SNR_DB


def test_equal_lengths_batch_to_float_rounding(tts, voices):
    # the same text and voice: every item as long as the longest, so no item sees padding
    spec = _specs(voices)[1]
    audio, _, _, sizes = _batched(tts, [spec, dict(spec, seed=77), spec])
    assert sizes == [3]
    solo = _solo(tts, spec)[0].audio.numpy()
    for got in (audio[0], audio[2]):
        assert float(np.abs(got - solo).max()) < 1e-4


def test_a_call_refuses_what_cannot_share_it(tts, voices):
    a = tts.plan(TEXTS[0], voices[0], seed=1)
    b = tts.plan(TEXTS[1], voices[1], seed=2, speed=1.5)
    with pytest.raises(InvalidOptionError, match="same .*num_steps.*speed"):
        check_batch(tts, [(a, a.upcoming()[0]), (b, b.upcoming()[0])])
    c = tts.plan(TEXTS[1], voices[1], seed=2, num_steps=2)
    with pytest.raises(InvalidOptionError, match="same"):
        check_batch(tts, [(a, a.upcoming()[0]), (c, c.upcoming()[0])])
    assert len(a.chunks) >= 2
    with pytest.raises(InvalidOptionError, match="not the next chunk"):
        run_batch(tts, [(a, a.chunks[1])])
    with pytest.raises(InvalidOptionError, match="not the next chunk"):
        run_batch(tts, [(a, a.chunks[1]), (a, a.chunks[0])])
    assert a.done == 0  # nothing ran
    # a generation's own chunks, in order, may share a call (LuxTTS.stream batches so under batch_frames)
    run_batch(tts, [(a, a.chunks[0]), (a, a.chunks[1])])
    assert a.done == 2


def test_stream_is_plan_plus_run_batch(tts, voices):
    spec = _specs(voices)[0]
    pieces = list(tts.stream(spec["text"], spec["prompt"], seed=spec["seed"], batch_frames=1))
    gen = tts.plan(spec["text"], spec["prompt"], seed=spec["seed"])
    manual = []
    while not gen.finished:
        manual += run_batch(tts, [(gen, gen.upcoming()[0])])
    assert torch.equal(torch.cat(pieces), torch.cat(manual))


class _Raising:
    """An acoustic model whose call fails (a GPU out of memory, say): nothing a real model does on demand."""

    def __init__(self, model) -> None:
        self.model = model

    def sample(self, **kw):
        raise RuntimeError("injected failure")

    def __getattr__(self, name):
        return getattr(self.model, name)


def test_a_failed_call_leaves_the_generations_where_they_were(tts, voices):
    spec = _specs(voices)[0]
    gen = tts.plan(spec["text"], spec["prompt"], seed=spec["seed"])
    model = tts.model
    tts.model = _Raising(model)
    try:
        with pytest.raises(RuntimeError, match="injected"):
            run_batch(tts, [(gen, gen.upcoming()[0])])
    finally:
        tts.model = model
    assert gen.done == 0
    pieces = []
    while not gen.finished:
        pieces += run_batch(tts, [(gen, gen.upcoming()[0])])
    # the retry drew the same noise: the same audio as a run that never failed
    assert torch.equal(torch.cat(pieces), torch.from_numpy(_solo(tts, spec)[0].audio.numpy()))
