"""trim_silence on real speech, and crossfade_concat's length rule and gains."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import GOLDEN_DIR
from luxtts.audio import crossfade_concat, load_audio, trim_silence
from luxtts.errors import InvalidOptionError

SR = 24000


@pytest.fixture(scope="module")
def speech() -> torch.Tensor:
    return load_audio(GOLDEN_DIR / "features" / "prompt.wav", sample_rate=SR).samples


def locate(whole: torch.Tensor, part: torch.Tensor) -> int:
    """Index where ``part`` sits inside ``whole`` (exactly one place); anchored on its loudest sample."""
    j = int(part.abs().argmax())
    head = part[j:j + 256].numpy()
    windows = np.lib.stride_tricks.sliding_window_view(whole.numpy(), head.shape[0])
    hits = [int(i) - j for i in np.flatnonzero((windows == head).all(axis=1))]
    hits = [i for i in hits if i >= 0 and torch.equal(whole[i:i + part.shape[0]], part)]
    assert len(hits) == 1
    return hits[0]


def loud_extent(wav: torch.Tensor, level: float = 0.02):
    idx = torch.nonzero(wav.abs() > level).flatten()
    return int(idx[0]), int(idx[-1])


@pytest.mark.parametrize("pad_noise", [0.0, 1e-4])
def test_trim_removes_padding_not_speech(speech, pad_noise):
    gen = torch.Generator().manual_seed(0)
    lead, tail = int(1.3 * SR), int(0.9 * SR)
    padded = torch.cat([
        pad_noise * torch.randn(lead, generator=gen), speech, pad_noise * torch.randn(tail, generator=gen),
    ])
    keep_ms, frame_ms = 100.0, 10.0
    keep, frame = int(keep_ms * SR / 1000), int(frame_ms * SR / 1000)
    out = trim_silence(padded, SR, keep_ms=keep_ms, frame_ms=frame_ms)
    start = locate(padded, out)
    first, last = loud_extent(speech)
    # every clearly audible speech sample is kept ...
    assert start <= lead + first and start + out.shape[0] > lead + last
    # ... and almost all of the added padding is gone
    assert start >= lead - keep - frame
    assert padded.shape[0] - (start + out.shape[0]) >= tail - keep - frame
    assert out.shape[0] <= speech.shape[0] + 2 * (keep + frame)


def test_trim_keeps_inner_silence_and_channels():
    burst = 0.5 * torch.ones(SR // 10)
    gap = torch.zeros(SR)
    wav = torch.cat([torch.zeros(SR), burst, gap, burst, torch.zeros(SR)])
    out = trim_silence(torch.stack([wav, wav]), SR, keep_ms=0)
    assert out.shape == (2, 2 * burst.shape[0] + gap.shape[0])


@pytest.mark.parametrize("keep_ms", [0.0, 100.0])
def test_trim_never_returns_empty(keep_ms):
    out = trim_silence(torch.zeros(SR), SR, keep_ms=keep_ms)
    assert 1 <= out.shape[0] <= max(1, int(keep_ms * SR / 1000))
    assert trim_silence(torch.zeros(5), SR).shape[0] >= 1


def test_trim_threshold_is_in_dbfs():
    quiet = torch.cat([torch.zeros(SR), 10 ** (-40 / 20) * torch.ones(SR), torch.zeros(SR)])
    assert trim_silence(quiet, SR, threshold_db=-50, keep_ms=0).shape[0] == SR
    assert trim_silence(quiet, SR, threshold_db=-30, keep_ms=0).shape[0] == 1


def expected_length(lengths, fade):
    total = 0
    for i, n in enumerate(lengths):
        k = 0 if i == 0 else min(fade, total, n)
        total += n - k
    return total


@settings(max_examples=150, deadline=None)
@given(
    lengths=st.lists(st.integers(0, 400), min_size=1, max_size=6),
    fade=st.integers(0, 150),
    curve=st.sampled_from(["equal_power", "linear"]),
    stereo=st.booleans(),
)
def test_crossfade_length_rule(lengths, fade, curve, stereo):
    shape = (2,) if stereo else ()
    chunks = [torch.randn(*shape, n) for n in lengths]
    out = crossfade_concat(chunks, sample_rate=1000, fade_ms=fade, curve=curve)  # 1 sample per ms
    assert out.shape == (*shape, expected_length(lengths, fade))
    if all(n >= fade for n in lengths):
        assert out.shape[-1] == sum(lengths) - (len(lengths) - 1) * fade


def test_crossfade_untouched_parts_and_gains():
    fade = 100
    a, b, c = torch.full((300,), 2.0), torch.full((250,), 3.0), torch.full((400,), 5.0)
    out = crossfade_concat([a, b, c], sample_rate=1000, fade_ms=fade, curve="linear")
    assert out.shape == (950 - 2 * fade,)
    assert torch.equal(out[: 300 - fade], a[: 300 - fade])
    assert torch.equal(out[-(400 - fade):], c[fade:])
    first = out[300 - fade: 300]
    assert torch.all((first > 2.0) & (first < 3.0)) and torch.all(first[1:] > first[:-1])
    ones = [torch.ones(200), torch.ones(200)]
    lin = crossfade_concat(ones, 1000, fade_ms=fade, curve="linear")
    assert torch.allclose(lin, torch.ones(300), atol=1e-6)
    # equal power: gains g_out^2 + g_in^2 = 1, so a fade between +1 and -1 has unit power
    eq = crossfade_concat([torch.ones(200), -torch.ones(200)], 1000, fade_ms=fade)
    region = eq[100:200]
    gin = torch.sin(torch.arange(1, fade + 1) / (fade + 1) * math.pi / 2)
    assert torch.allclose(region, torch.sqrt(1 - gin ** 2) - gin, atol=1e-6)


def test_crossfade_short_chunk_and_single():
    out = crossfade_concat([torch.ones(500), torch.full((30,), 2.0), torch.ones(500)], 1000, fade_ms=100)
    assert out.shape == (500 + 30 + 500 - 30 - 100,)  # the short chunk overlaps fully, the next join by the fade
    single = torch.randn(77)
    assert torch.equal(crossfade_concat([single], 1000), single)


@pytest.mark.parametrize(
    "chunks,kwargs",
    [([], {}), ([torch.ones(10), torch.ones(2, 10)], {}), ([torch.ones(10)], {"curve": "cubic"}),
     ([torch.ones(10)], {"fade_ms": -1.0})],
)
def test_crossfade_rejects(chunks, kwargs):
    with pytest.raises(InvalidOptionError):
        crossfade_concat(chunks, 1000, **kwargs)
