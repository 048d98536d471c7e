"""Vocos (24 kHz) and LuxTTS's dual-head 48 kHz Vocos against GOLDEN_DIR/vocoder_24k and vocoder_48k."""

from __future__ import annotations

import pytest
import torch

from conftest import GOLDEN_DIR, golden_cases, load_golden
from luxtts.vocoder import Vocoder, load_vocoder

TOL_WAV = 1e-4  # README: vocoder waveforms
FEAT_ATOL = 1e-4
LOG_FLOOR_LIMIT = -11.5  # below log(1e-5) the README compares exp(values)
EXP_ATOL = 1e-6
WEIGHT_FILES = {"vocoder_48k": "vocos.bin", "vocoder_24k": "pytorch_model.bin"}
MODES = ("fft", "matmul")

_vocoders: dict = {}


def vocoder_for(subdir: str, mode: str = "fft") -> Vocoder:
    if subdir not in _vocoders:
        folder = GOLDEN_DIR / subdir
        _vocoders[subdir] = load_vocoder(folder / "config.yaml", folder / WEIGHT_FILES[subdir])
    vocoder = _vocoders[subdir]
    vocoder.set_istft_mode(mode)
    return vocoder


def max_err(got: torch.Tensor, want: torch.Tensor, what: str) -> float:
    assert tuple(got.shape) == tuple(want.shape), f"{what}: shape {tuple(got.shape)} != {tuple(want.shape)}"
    assert torch.isfinite(got).all(), f"{what}: non-finite values"
    return (got.double() - want.double()).abs().max().item()


def cases_with(subdir: str, key: str, present: bool = True):
    """The cases of ``subdir`` whose tensors include (or lack) ``key``, crossed with both ISTFT modes."""
    out = []
    for p in golden_cases(subdir):
        case = p.values[0]
        if (key in load_golden(subdir, case["file"])) == present:
            out += [pytest.param(case, mode, id=f"{p.id}-{mode}") for mode in MODES]
    return out


@pytest.mark.parametrize("case,mode", cases_with("vocoder_48k", "audio_in", present=False))
@pytest.mark.parametrize("path", ["head24k", "head48k", "merged_48k"])
def test_vocoder_48k(case, mode, path):
    g = load_golden("vocoder_48k", case["file"])
    vocoder = vocoder_for("vocoder_48k", mode)
    vocoder.crossover_hz = case["crossover_hz"]
    with torch.inference_mode():
        if path == "merged_48k":
            got = vocoder.decode(g["mel"])
        else:
            got = getattr(vocoder, path)(g["mel"])
    assert max_err(got, g[path], path) <= TOL_WAV


def test_vocoder_48k_config_is_dual_head():
    vocoder = vocoder_for("vocoder_48k")
    assert vocoder.is_48k and vocoder.sample_rate == 48000


@pytest.mark.parametrize("case,mode", cases_with("vocoder_24k", "audio_in", present=False))
def test_vocoder_24k_mel_to_wav(case, mode):
    g = load_golden("vocoder_24k", case["file"])
    vocoder = vocoder_for("vocoder_24k", mode)
    assert not vocoder.is_48k and vocoder.sample_rate == 24000
    with torch.inference_mode():
        got = vocoder.decode(g["mel"])
    assert max_err(got, g["wav_24k"], "wav_24k") <= TOL_WAV


@pytest.mark.parametrize("case,mode", cases_with("vocoder_24k", "audio_in"))
def test_vocoder_24k_copy_synthesis(case, mode):
    g = load_golden("vocoder_24k", case["file"])
    vocoder = vocoder_for("vocoder_24k", mode)
    with torch.inference_mode():
        mel = vocoder.feature_extractor(g["audio_in"])
        wav = vocoder.copy_synthesis(g["audio_in"])
        from_golden_mel = vocoder.decode(g["mel"])
    assert mel.shape == g["mel"].shape
    high = g["mel"] > LOG_FLOOR_LIMIT
    assert (mel[high] - g["mel"][high]).abs().max().item() <= FEAT_ATOL
    if (~high).any():
        assert (mel[~high].exp() - g["mel"][~high].exp()).abs().max().item() <= EXP_ATOL
    assert max_err(wav, g["wav_24k"], "copysynth wav_24k") <= TOL_WAV
    assert max_err(from_golden_mel, g["wav_24k"], "wav_24k from golden mel") <= TOL_WAV
