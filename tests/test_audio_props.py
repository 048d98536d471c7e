"""Property tests: resampling keeps duration to the sample; loudness rules."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from luxtts.audio import resample, restore_loudness, rms, rms_normalize

RATES = [8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000]


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 6000), sr_in=st.sampled_from(RATES), sr_out=st.sampled_from(RATES), seed=st.integers(0, 2**16))
def test_resample_preserves_duration(n, sr_in, sr_out, seed):
    x = torch.from_numpy(np.random.default_rng(seed).uniform(-0.5, 0.5, n).astype(np.float32))
    y = resample(x, sr_in, sr_out)
    assert y.dtype == torch.float32
    assert y.shape == (math.ceil(n * (sr_out / sr_in)),)
    # to the sample: never shorter than the exact duration, never a whole sample longer
    exact = n * sr_out / sr_in
    assert exact <= y.shape[0] < exact + 1 + 1e-9
    if sr_in == sr_out:
        assert torch.equal(y, x)


def test_resample_keeps_a_tone_and_rows():
    t = torch.arange(16000, dtype=torch.float64) / 16000
    x = torch.stack([torch.sin(2 * torch.pi * 440 * t), torch.cos(2 * torch.pi * 440 * t)]).float()
    y = resample(x, 16000, 48000)
    assert y.shape == (2, 48000)
    t2 = torch.arange(48000, dtype=torch.float64) / 48000
    ref = torch.sin(2 * torch.pi * 440 * t2).float()
    assert (y[0, 1000:-1000] - ref[1000:-1000]).abs().max() < 1e-3
    assert torch.equal(y[0], resample(x[0], 16000, 48000))


levels = st.floats(1e-4, 1.0)


@settings(max_examples=80, deadline=None)
@given(level=levels, target=st.floats(1e-3, 0.5), n=st.integers(16, 4000), seed=st.integers(0, 2**16))
def test_rms_normalize_rule(level, target, n, seed):
    x = torch.from_numpy(np.random.default_rng(seed).standard_normal(n).astype(np.float32))
    x = x / rms(x) * level
    before = float(rms(x))
    out, original = rms_normalize(x, target)
    assert original == pytest.approx(before, rel=0, abs=0)
    if bool(rms(x) < target):  # compared in float32, as upstream does
        assert float(rms(out)) == pytest.approx(target, rel=1e-5)
        assert torch.equal(out, x * target / rms(x))
    else:
        assert out is x


def test_rms_normalize_keeps_shape():
    x = 0.01 * torch.ones(1, 100)
    out, original = rms_normalize(x, 0.1)
    assert out.shape == (1, 100) and original == pytest.approx(0.01)


@given(prompt_rms=st.floats(1e-5, 1.0))
def test_restore_loudness(prompt_rms):
    wav = torch.linspace(-0.9, 0.9, 101)
    out = restore_loudness(wav, prompt_rms)
    if np.float32(prompt_rms) < 0.1:
        factor = torch.tensor(prompt_rms, dtype=torch.float32) / 0.1
        assert torch.equal(out, wav * factor)
        assert float(rms(out)) == pytest.approx(float(rms(wav)) * prompt_rms / 0.1, rel=1e-5)
    else:
        assert torch.equal(out, wav)
    assert torch.equal(restore_loudness(wav, torch.tensor(prompt_rms)), out)
