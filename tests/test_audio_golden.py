"""Prompt loading, loudness and features against golden/features (discovered from its cases.json)."""

import math

import pytest
import soundfile as sf
import torch

from conftest import GOLDEN_DIR, golden_cases, load_golden
from luxtts.audio import FEATURE_SCALE, load_audio, prompt_features, resampled_length, rms_normalize

SUBDIR = "features"
WAV_ATOL = 1e-6
FEAT_ATOL = 1e-4
LOG_FLOOR_LIMIT = -11.5  # below log(1e-5), compare exp(values) instead
EXP_ATOL = 1e-6


def assert_features_close(actual: torch.Tensor, golden: torch.Tensor, scale: float = 1.0) -> None:
    """README's two-part tolerance; ``scale`` is the factor both tensors carry (0.1 for features_scaled)."""
    assert actual.shape == golden.shape
    a, g = actual.double() / scale, golden.double() / scale
    high = g > LOG_FLOOR_LIMIT
    assert high.any()
    assert (a[high] - g[high]).abs().max().item() <= FEAT_ATOL
    if (~high).any():
        assert (a[~high].exp() - g[~high].exp()).abs().max().item() <= EXP_ATOL


def _load_case(case):
    return load_audio(GOLDEN_DIR / SUBDIR / case["source"], sample_rate=24000, duration=case["duration"])


@pytest.mark.parametrize("case", golden_cases(SUBDIR))
def test_wav24k(case):
    golden = load_golden(SUBDIR, case["file"])["wav24k"]
    loaded = _load_case(case)
    assert loaded.samples.dtype == torch.float32 and loaded.samples.dim() == 1
    assert loaded.samples.shape == golden.shape
    assert (loaded.samples - golden).abs().max().item() <= WAV_ATOL


@pytest.mark.parametrize("case", golden_cases(SUBDIR))
def test_length_follows_float64_rule(case):
    """n frames read at the native rate -> ceil(n * (24000 / native)) samples (96001 for 176400 at 44.1 kHz)."""
    info = sf.info(str(GOLDEN_DIR / SUBDIR / case["source"]))
    read = min(info.frames, int(case["duration"] * info.samplerate))
    expected = int(math.ceil(read * (24000.0 / info.samplerate)))
    assert load_golden(SUBDIR, case["file"])["wav24k"].shape[0] == expected
    loaded = _load_case(case)
    assert loaded.samples.shape[0] == expected
    assert loaded.native_rate == info.samplerate
    assert loaded.cropped == (info.frames > read)
    assert loaded.original_seconds == pytest.approx(info.frames / info.samplerate)


def test_float64_length_rule_differs_from_exact_fraction():
    assert resampled_length(176400, 44100, 24000) == 96001
    assert 176400 * 24000 // 44100 == 96000


@pytest.mark.parametrize("case", golden_cases(SUBDIR))
def test_rms_normalize(case):
    golden = load_golden(SUBDIR, case["file"])
    normed, original = rms_normalize(golden["wav24k"], case["target_rms"])
    assert isinstance(original, float)
    # A float32 sum: its rounding depends on how the reduction is split over threads (7e-9 apart at 1 vs 2).
    assert original == pytest.approx(golden["prompt_rms"].item(), rel=1e-6)
    assert (normed - golden["wav24k_normed"]).abs().max().item() <= WAV_ATOL


@pytest.mark.parametrize("case", golden_cases(SUBDIR))
def test_features_end_to_end(case):
    golden = load_golden(SUBDIR, case["file"])
    normed, _ = rms_normalize(_load_case(case).samples, case["target_rms"])
    feats = prompt_features(normed)
    assert_features_close(feats, golden["features"])
    assert_features_close(feats * FEATURE_SCALE, golden["features_scaled"], scale=FEATURE_SCALE)


@pytest.mark.parametrize("case", golden_cases(SUBDIR))
def test_array_source_matches_file(case):
    """(samples, rate) in either channel layout, numpy or torch, loads exactly like the file."""
    path = GOLDEN_DIR / SUBDIR / case["source"]
    data, rate = sf.read(str(path), dtype="float32", always_2d=True)  # (n, C): channels-last
    from_file = _load_case(case).samples
    for arr in (data, data.T.copy(), torch.from_numpy(data), torch.from_numpy(data.T.copy())):
        loaded = load_audio((arr, rate), duration=case["duration"])
        assert torch.equal(loaded.samples, from_file)
    assert torch.equal(load_audio(path.read_bytes(), duration=case["duration"]).samples, from_file)
    with open(path, "rb") as fh:
        assert torch.equal(load_audio(fh, duration=case["duration"]).samples, from_file)


@pytest.mark.parametrize("case", golden_cases(SUBDIR))
def test_channels_mixed_by_mean(case):
    """Resampling is linear, so the mean of each channel loaded alone must match the mixed load."""
    data, rate = sf.read(str(GOLDEN_DIR / SUBDIR / case["source"]), dtype="float32", always_2d=True)
    per_channel = [load_audio((data[:, c], rate), duration=case["duration"]).samples for c in range(data.shape[1])]
    mixed = _load_case(case).samples
    assert (torch.stack(per_channel).mean(dim=0) - mixed).abs().max().item() <= WAV_ATOL


@pytest.mark.parametrize("case", golden_cases(SUBDIR))
def test_rms_does_not_depend_on_the_thread_count(case):
    from luxtts.audio.loudness import rms

    wav = load_golden(SUBDIR, case["file"])["wav24k"]
    threads = torch.get_num_threads()
    try:
        values = set()
        for n in (1, 2, 3):
            torch.set_num_threads(n)
            values.add(float(rms(wav)))
    finally:
        torch.set_num_threads(threads)
    assert len(values) == 1
    assert abs(values.pop() - case["prompt_rms"]) <= 1e-7
