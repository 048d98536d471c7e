"""End to end against GOLDEN_DIR/pipeline: prompt file + transcript + text + noise -> the reference 48 kHz waveform."""

from __future__ import annotations

import pytest
import torch

from conftest import GOLDEN_DIR, golden_cases, load_golden
from golden_model import PIPELINE, build_luxtts_folder
from luxtts import LuxTTS, Tokens, VoicePrompt

TOL_WAV = 1e-4  # GOLDEN_DIR/README.md: pipeline wav_48k
TOL_FEATURES = 1e-4
LOG_FLOOR_LIMIT = -11.5  # features at or below log(1e-5) are compared as exp(values)
TOL_FLOOR_EXP = 1e-6

_loaded: dict = {}


def tts_for(case, tmp_path_factory) -> LuxTTS:
    key = (case["model"], case["vocoder"])
    if key not in _loaded:
        folder = build_luxtts_folder(tmp_path_factory.mktemp("golden_model"), case)
        _loaded[key] = LuxTTS.from_pretrained(folder, device="cpu")
    return _loaded[key]


def encoded(tts: LuxTTS, case) -> VoicePrompt:
    return tts.encode_prompt(GOLDEN_DIR / PIPELINE / case["prompt_wav"], duration=case["prompt_duration"],
                             rms=case["rms"], text=case["prompt_text"])


def max_err(got: torch.Tensor, want: torch.Tensor) -> float:
    assert tuple(got.shape) == tuple(want.shape), f"shape {tuple(got.shape)} != {tuple(want.shape)}"
    assert torch.isfinite(got).all()
    return (got.double() - want.double()).abs().max().item()


@pytest.mark.parametrize("case", golden_cases(PIPELINE))
def test_prompt_encoding(case, tmp_path_factory):
    g = load_golden(PIPELINE, case["file"])
    prompt = encoded(tts_for(case, tmp_path_factory), case)
    want = g["prompt_features"][0]
    assert prompt.features.shape == want.shape
    above = want > LOG_FLOOR_LIMIT
    assert (prompt.features[above] - want[above]).abs().max().item() <= TOL_FEATURES
    floor_err = (torch.exp(prompt.features[~above] / 0.1) - torch.exp(want[~above] / 0.1)).abs()
    assert floor_err.numel() == 0 or floor_err.max().item() <= TOL_FLOOR_EXP
    assert abs(prompt.rms - case["prompt_rms"]) <= 1e-7


@pytest.mark.parametrize("case", golden_cases(PIPELINE))
def test_tokens_from_text_match_the_case(case, tmp_path_factory):
    tts = tts_for(case, tmp_path_factory)
    assert tts.tokenizer.encode(case["text"]) == case["tokens"]
    assert encoded(tts, case).tokens == case["prompt_tokens"]


def run_case(tts: LuxTTS, case, prompt: VoicePrompt, text) -> torch.Tensor:
    g = load_golden(PIPELINE, case["file"])
    return tts.generate_speech(
        text, prompt, num_steps=case["num_steps"], guidance_scale=case["guidance_scale"], t_shift=case["t_shift"],
        speed=case["speed"], noise=g["noise"],
    )


@pytest.mark.parametrize("case", golden_cases(PIPELINE))
def test_waveform_from_the_given_tokens(case, tmp_path_factory):
    tts = tts_for(case, tmp_path_factory)
    prompt = encoded(tts, case)
    prompt = VoicePrompt(features=prompt.features, tokens=case["prompt_tokens"], rms=prompt.rms)
    wav = run_case(tts, case, prompt, Tokens(case["tokens"]))
    want = load_golden(PIPELINE, case["file"])["wav_48k"]
    assert wav.dtype == torch.float32 and wav.device.type == "cpu"
    assert max_err(wav, want) <= TOL_WAV


@pytest.mark.parametrize("case", golden_cases(PIPELINE))
def test_waveform_from_text(case, tmp_path_factory):
    tts = tts_for(case, tmp_path_factory)
    wav = run_case(tts, case, encoded(tts, case), case["text"])
    assert max_err(wav, load_golden(PIPELINE, case["file"])["wav_48k"]) <= TOL_WAV


@pytest.mark.parametrize("case", golden_cases(PIPELINE))
def test_upstream_prompt_dict_gives_the_same_waveform(case, tmp_path_factory):
    tts = tts_for(case, tmp_path_factory)
    upstream = encoded(tts, case).to_upstream()
    wav = run_case(tts, case, upstream, case["text"])
    assert max_err(wav, load_golden(PIPELINE, case["file"])["wav_48k"]) <= TOL_WAV
