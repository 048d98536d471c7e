"""The LuxTTS API on the golden model: upstream forms, options, devices, errors, seeds, result objects."""

from __future__ import annotations

import logging

import pytest
import torch

from golden_model import SAMPLES_PER_FRAME_48K, pipeline_cases, prompt_wav
from luxtts import (
    EmptyTextError,
    InvalidOptionError,
    LuxTTS,
    SynthesisOptions,
    TranscriptionUnavailableError,
    VoicePrompt,
)
from luxtts.options import LUXTTS_DEFAULTS
from luxtts.devices import resolve_device, resolve_dtype

CASE = pipeline_cases()[0]
SHORT = "Short one."


def test_generate_speech_returns_upstreams_shape(tts, prompt):
    wav = tts.generate_speech(SHORT, prompt, seed=1)
    assert wav.dim() == 2 and wav.shape[0] == 1
    assert wav.dtype == torch.float32 and wav.device.type == "cpu"
    assert wav.abs().max() <= 1.0
    assert tts.sample_rate == 48000


def test_expected_length_follows_the_speed_rule(tts, prompt):
    """Generated frames = ceil(Tp / Np * N / (speed * 1.3)), each worth 512 samples at 48 kHz."""
    n = len(tts.tokenizer.encode(SHORT))
    for speed in (1.0, 0.7):
        frames = torch.ceil(torch.tensor(prompt.num_frames / len(prompt.tokens), dtype=torch.float32) * n
                            / (speed * 1.3)).item()
        wav = tts.generate_speech(SHORT, prompt, speed=speed, seed=0)
        assert wav.shape[-1] == int(frames) * SAMPLES_PER_FRAME_48K


def test_seed_reproduces_and_differs(tts, prompt):
    a = tts.generate_speech(SHORT, prompt, seed=7)
    b = tts.generate_speech(SHORT, prompt, seed=7)
    c = tts.generate_speech(SHORT, prompt, seed=8)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_unseeded_follows_torch_manual_seed(tts, prompt):
    torch.manual_seed(5)
    a = tts.generate_speech(SHORT, prompt)
    torch.manual_seed(5)
    assert torch.equal(a, tts.generate_speech(SHORT, prompt))


def test_generate_result_object(tts, prompt):
    result = tts.generate(SHORT, prompt, seed=3)
    assert result.sample_rate == 48000
    assert result.audio.dim() == 1
    assert torch.equal(result.audio, tts.generate_speech(SHORT, prompt, seed=3)[0])
    assert set(result.timings) >= {"text", "acoustic", "vocoder", "total"}
    assert all(v >= 0 for v in result.timings.values())
    assert result.timings["total"] >= result.timings["acoustic"]
    assert len(result.chunks) == 1 and result.chunks[0].samples == result.audio.shape[-1]
    assert result.duration == pytest.approx(result.audio.shape[-1] / 48000)


def test_options_object_and_keywords(tts, prompt):
    opts = SynthesisOptions(num_steps=2, seed=4)
    a = tts.generate(SHORT, prompt, opts).audio
    b = tts.generate(SHORT, prompt, num_steps=2, seed=4).audio
    c = tts.generate(SHORT, prompt, opts, num_steps=4).audio  # keywords win
    assert torch.equal(a, b)
    assert torch.equal(c, tts.generate(SHORT, prompt, seed=4).audio)


def test_model_defaults_match_upstream(tts):
    assert tts.defaults == LUXTTS_DEFAULTS
    assert (tts.defaults.num_steps, tts.defaults.guidance_scale, tts.defaults.t_shift) == (4, 3.0, 0.5)
    assert tts.defaults.speed_factor == 1.3


def test_smooth_uses_the_24k_head(tts, prompt):
    smooth48 = tts.generate_speech(SHORT, prompt, seed=2, return_smooth=True)
    sharp = tts.generate_speech(SHORT, prompt, seed=2)
    assert smooth48.shape == sharp.shape and not torch.equal(smooth48, sharp)
    raw24 = tts.generate(SHORT, prompt, seed=2, smooth=True, sample_rate=24000)
    assert raw24.sample_rate == 24000 and raw24.audio.shape[-1] * 2 == sharp.shape[-1]


def test_sample_rate_24000_resamples(tts, prompt):
    result = tts.generate(SHORT, prompt, seed=2, sample_rate=24000)
    assert result.sample_rate == 24000
    assert result.audio.shape[-1] * 2 == tts.generate_speech(SHORT, prompt, seed=2).shape[-1]


def test_upstream_constructor_form_falls_back_quietly(folder, caplog, capsys):
    threads = torch.get_num_threads()
    try:
        with caplog.at_level(logging.WARNING, logger="luxtts"):
            tts = LuxTTS(str(folder), device="cuda", threads=1)
    finally:
        torch.set_num_threads(threads)
    if not torch.cuda.is_available():
        assert tts.device.type in ("cpu", "mps")
        assert "CUDA is not available" in caplog.text
    assert capsys.readouterr().out == ""  # no print spam


def test_saved_prompt_gives_the_same_audio(tts, prompt, tmp_path):
    path = prompt.save(tmp_path / "v.safetensors")
    a = tts.generate_speech(SHORT, prompt, seed=9)
    assert torch.equal(a, tts.generate_speech(SHORT, VoicePrompt.load(path), seed=9))
    assert torch.equal(a, tts.generate_speech(SHORT, str(path), seed=9))


def test_prompt_from_another_token_table_is_retokenized(tts, prompt):
    foreign = VoicePrompt(features=prompt.features, tokens=[1, 2, 3], rms=prompt.rms,
                          transcript=prompt.transcript, vocab_sha256="0" * 64)
    a = tts.generate_speech(SHORT, prompt, seed=1)
    assert torch.equal(a, tts.generate_speech(SHORT, foreign, seed=1))
    orphan = VoicePrompt(features=prompt.features, tokens=[1, 2, 3], rms=prompt.rms, vocab_sha256="0" * 64)
    with pytest.raises(InvalidOptionError, match="another model's token table"):
        tts.generate_speech(SHORT, orphan)


def test_prompt_fields(prompt):
    assert prompt.transcript == CASE["prompt_text"]
    assert prompt.sample_rate == 24000 and prompt.target_rms == 0.01
    assert prompt.duration == pytest.approx(prompt.num_frames * 256 / 24000, abs=256 / 24000)
    assert prompt.source.endswith("prompt.wav")


@pytest.mark.parametrize("kwargs,match", [
    ({"num_steps": 0}, "num_steps"),
    ({"speed": 0.0}, "speed"),
    ({"speed": -1.0}, "speed"),
    ({"t_shift": 0}, "t_shift"),
    ({"guidance_scale": float("nan")}, "guidance_scale"),
    ({"seed": -1}, "seed"),
])
def test_bad_options(tts, prompt, kwargs, match):
    with pytest.raises(InvalidOptionError, match=match):
        tts.generate_speech(SHORT, prompt, **kwargs)


@pytest.mark.parametrize("text", ["", "   \n\t"])
def test_empty_text(tts, prompt, text):
    with pytest.raises(EmptyTextError, match="empty"):
        tts.generate_speech(text, prompt)


def test_bad_generation_arguments(tts, prompt):
    with pytest.raises(InvalidOptionError, match="sample_rate"):
        tts.generate(SHORT, prompt, sample_rate=12)
    with pytest.raises(InvalidOptionError, match="chunk_tokens"):
        tts.generate(SHORT, prompt, chunk_tokens=-5)
    with pytest.raises(InvalidOptionError, match="noise must have shape"):
        tts.generate_speech(SHORT, prompt, noise=torch.zeros(1, 3, 100))
    with pytest.raises(InvalidOptionError, match="rms"):
        tts.encode_prompt(str(prompt_wav()), rms=0, text="hi")


def test_missing_transcript_without_asr(tts, monkeypatch):
    import luxtts.asr

    monkeypatch.setattr(luxtts.asr, "available_backend", lambda: None)
    with pytest.raises(TranscriptionUnavailableError, match=r"text=.*luxtts\[asr\]"):
        tts.encode_prompt(str(prompt_wav()))


@pytest.mark.parametrize("device", ["tpu", "gpu", "cuda:x", "cpu:0", "", 3])
def test_unknown_device(device):
    with pytest.raises(InvalidOptionError, match="device must be"):
        resolve_device(device)


def test_known_devices():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device(" CPU ").type == "cpu"
    expected = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    assert resolve_device("auto").type == expected


def test_dtypes():
    assert resolve_dtype(None) is torch.float32
    assert resolve_dtype("bf16") is torch.bfloat16
    assert resolve_dtype(torch.float16) is torch.float16
    with pytest.raises(InvalidOptionError, match="dtype"):
        resolve_dtype("int8")


def test_options_resolution():
    opts = SynthesisOptions(speed=0.9).resolved(LUXTTS_DEFAULTS)
    assert (opts.num_steps, opts.guidance_scale, opts.t_shift, opts.speed, opts.seed) == (4, 3.0, 0.5, 0.9, None)
    with pytest.raises(InvalidOptionError, match="unknown synthesis option"):
        SynthesisOptions().replace(steps=3)
    with pytest.raises(InvalidOptionError, match="num_steps"):
        SynthesisOptions(num_steps=True)


def test_int8_quantized_pipeline_stays_close_to_float32(folder, tts, prompt):
    from luxtts.runtime import is_quantized, snr_db

    q = LuxTTS.from_pretrained(folder, device="cpu", quantize="int8")
    assert is_quantized(q.model) and not is_quantized(tts.model)
    want = tts.generate_speech(SHORT, prompt, seed=3)
    got = q.generate_speech(SHORT, prompt, seed=3)
    assert got.shape == want.shape
    # Compared through the magnitude spectrum (44.5 dB measured on the golden model, 2026-11-25): int8 moves
    # phases a little, not the content.
    spec = lambda w: torch.stft(w[0], 1024, 256, window=torch.hann_window(1024), return_complex=True).abs()  # noqa: E731
    a, b = spec(got), spec(want)
    snr = snr_db(a, b)
    assert snr > 30.0, f"int8 magnitude-spectrum SNR {snr:.1f} dB"


@pytest.mark.parametrize("kwargs,match", [
    ({"quantize": "int4"}, "quantize must be None or 'int8'"),
    ({"quantize": "int8", "dtype": "bfloat16"}, "runs on the CPU in float32"),
])
def test_bad_quantize_arguments(folder, kwargs, match):
    with pytest.raises(InvalidOptionError, match=match):
        LuxTTS.from_pretrained(folder, device="cpu", **kwargs)
