"""The library's contract for applications (issue 15): every failure a LuxTTSError with a short message naming
the argument, every documented input form accepted, nothing misread in silence."""

from __future__ import annotations

import io
import json
import shutil
import warnings

import numpy as np
import pytest
import soundfile as sf
import torch

from golden_model import build_luxtts_folder, build_zipvoice_folder, pipeline_cases, prompt_wav
from luxtts import (
    AudioWriteError,
    ConfigError,
    InvalidOptionError,
    LuxTTS,
    LuxTTSError,
    OutputExistsError,
    PromptError,
    SpeechResult,
    SynthesisOptions,
    TextTypeError,
    Tokens,
    UnspeakableTextError,
    VoiceNotFoundError,
    VoicePrompt,
    VoiceWriteError,
)
from luxtts.options import ZIPVOICE_DEFAULTS

SHORT = "Short one."
TRANSCRIPT = pipeline_cases()[0]["prompt_text"]
SHORT_MESSAGE = 300


def short_error(exc_info) -> str:
    message = str(exc_info.value)
    assert len(message) <= SHORT_MESSAGE, f"{len(message)} characters: {message[:200]}..."
    return message


# ------------------------------------------------------------------------------------------------ text


def test_bytes_text_is_refused_not_spoken_as_token_ids(tts, prompt):
    with pytest.raises(TextTypeError, match="decode it first") as e:
        tts.generate(b"\x05\x06\x07\x08\x09", prompt)
    short_error(e)
    with pytest.raises(TextTypeError, match="decode it first"):
        tts.stream(bytearray(b"hello there"), prompt)


def test_token_ids_only_through_tokens(tts, prompt):
    ids = tts.tokenizer.encode(SHORT)
    with pytest.raises(TextTypeError, match=r"luxtts\.Tokens"):
        tts.stream(ids, prompt)
    with pytest.raises(InvalidOptionError, match="outside this model's token table"):
        tts.stream(Tokens([10**6]), prompt)
    from_ids = tts.generate(Tokens(np.array(ids)), prompt, seed=1, chunk_tokens=None).audio
    assert torch.equal(from_ids, tts.generate(SHORT, prompt, seed=1, chunk_tokens=None).audio)


def test_unspeakable_text_warns_once_in_the_users_characters(tts, prompt):
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        with pytest.raises(UnspeakableTextError):
            tts.stream("?!...", prompt)
    messages = [str(w.message) for w in record if "dropped" in str(w.message)]
    assert len(messages) == 1, messages
    assert "'...'" in messages[0] and "…" not in messages[0]


def test_prompt_transcript_must_be_text(tts):
    with pytest.raises(TextTypeError, match="text") as e:
        tts.encode_prompt(str(prompt_wav()), text=123)
    short_error(e)


# ------------------------------------------------------------------------------------------------ prompts


def test_audio_where_a_prompt_is_expected_says_encode_first(tts, tmp_path):
    wav = prompt_wav()
    data, rate = sf.read(str(wav), dtype="float32")
    copy = shutil.copyfile(wav, tmp_path / "ref.bin")  # audio without an audio suffix: recognised by its header
    for given in (str(wav), wav, copy, wav.read_bytes(), (data, rate), torch.from_numpy(data), io.BytesIO(b"RIFF")):
        with pytest.raises(PromptError, match="encode_prompt") as e:
            tts.stream(SHORT, given)
        assert "audio" in short_error(e)


def test_saved_voice_names_are_resolved(tts, prompt, tmp_path, monkeypatch):
    from luxtts.voices import save_voice

    monkeypatch.setenv("LUXTTS_HOME", str(tmp_path))
    with pytest.raises(VoiceNotFoundError, match="alice") as e:
        tts.stream(SHORT, "alice")
    short_error(e)
    with pytest.raises(VoiceNotFoundError):
        tts.stream(SHORT, str(tmp_path / "missing.safetensors"))
    save_voice("alice", prompt)
    tts.stream(SHORT, "alice")  # resolved and checked; nothing generated until iterated
    from luxtts.prompt import as_prompt
    from luxtts.voices import named_prompt

    assert as_prompt("alice", named=named_prompt) == prompt
    with pytest.raises(PromptError, match="needs the voice library"):  # prompts alone know no library
        as_prompt("alice")


def test_text_mode_file_object_is_refused_briefly(tts, tmp_path):
    text_file = tmp_path / "notes.txt"
    text_file.write_text("x" * 64_000)
    with open(text_file, encoding="utf-8") as handle:
        with pytest.raises(InvalidOptionError, match="text mode") as e:
            tts.encode_prompt(handle, text="hi")
    short_error(e)


def test_prompts_from_path_and_bytes_compare_equal(tts):
    a = tts.encode_prompt(str(prompt_wav()), text=TRANSCRIPT)
    b = tts.encode_prompt(prompt_wav().read_bytes(), text=TRANSCRIPT)
    assert a.source != b.source and a == b


def test_voice_repr_is_short(prompt):
    text = repr(prompt)
    assert len(text) < 300 and "tensor" not in text and f"frames={prompt.num_frames}" in text


def test_voice_prompt_is_checked_when_used(tts, prompt):
    nan = prompt.features.clone()
    nan[3, 5] = float("nan")
    bad = [
        (VoicePrompt(features=nan, tokens=prompt.tokens, rms=prompt.rms), "NaN"),
        (VoicePrompt(features=prompt.features, tokens=prompt.tokens, rms=5.0), "rms"),
        (VoicePrompt(features=prompt.features[:, :80], tokens=prompt.tokens, rms=prompt.rms), "features per frame"),
        (VoicePrompt(features=prompt.features, tokens=[10**6], rms=prompt.rms), "token ids"),
    ]
    for voice, match in bad:
        with pytest.raises(PromptError, match=match) as e:
            tts.stream(SHORT, voice)
        short_error(e)
    with pytest.raises(PromptError, match="rms"):
        VoicePrompt(features=prompt.features, tokens=prompt.tokens, rms=-1)


def test_voice_save_errors_are_oserrors(prompt, tmp_path):
    with pytest.raises(VoiceWriteError, match="does not exist") as e:
        prompt.save("/nonexistent_dir/x.safetensors")
    assert isinstance(e.value, OSError)
    with pytest.raises(VoiceWriteError, match="folder"):
        prompt.save(tmp_path)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------------------ audio forms


def test_audio_prompt_forms_give_the_same_voice(tts):
    data, rate = sf.read(str(prompt_wav()), dtype="float32")
    want = tts.encode_prompt((data, rate), text=TRANSCRIPT)
    stereo = np.stack([data, data], axis=1)
    for given in ((data, np.int64(rate)), (data, float(rate)), (torch.from_numpy(data), rate), (stereo, rate),
                  (torch.from_numpy(stereo.T.copy()), rate)):
        got = tts.encode_prompt(given, text=TRANSCRIPT)
        assert torch.allclose(got.features, want.features, atol=1e-5)
    with open(prompt_wav(), "rb") as handle:
        from_file = tts.encode_prompt(handle, text=TRANSCRIPT)
    assert from_file == tts.encode_prompt(str(prompt_wav()), text=TRANSCRIPT)


def test_rate_first_order_gets_a_hint(tts):
    data, rate = sf.read(str(prompt_wav()), dtype="float32")
    with pytest.raises(InvalidOptionError, match=r"\(samples, rate\)") as e:
        tts.encode_prompt((rate, data), text=TRANSCRIPT)
    assert "0." not in short_error(e)  # no array dump


def test_integer_like_numbers_are_accepted(tts, prompt):
    opts = SynthesisOptions(seed=np.int64(3), num_steps=np.int32(2), speed=np.float32(0.9))
    assert (opts.seed, opts.num_steps) == (3, 2) and type(opts.seed) is int and type(opts.speed) is float
    tts.stream(SHORT, prompt, seed=np.int64(3), sample_rate=24000.0, chunk_tokens=np.int64(50),
               batch_frames=np.int16(1), crossfade_ms=np.float32(20))
    with pytest.raises(InvalidOptionError, match="sample_rate"):
        tts.stream(SHORT, prompt, sample_rate=24000.5)


# ------------------------------------------------------------------------------------------------ stream, options


def test_stream_checks_its_arguments_when_called(tts, prompt):
    for kwargs, match in (
        ({"num_steps": 0}, "num_steps"),
        ({"progress": 5}, "progress"),
        ({"noise": [[0.0] * 100]}, "noise"),
        ({"sample_rate": 12}, "sample_rate"),
        ({"crossfade_ms": -1}, "crossfade_ms"),
        ({"options": "fast"}, "options"),
        ({"options": {"steps": 4}}, "unknown synthesis option"),
        ({"speed": 1e-9}, "speed"),
    ):
        with pytest.raises(InvalidOptionError, match=match) as e:
            tts.stream(SHORT, prompt, **kwargs)  # raised here, before any next()
        short_error(e)


def test_options_as_a_dict(tts, prompt):
    it = tts.stream(SHORT, prompt, {"num_steps": 2, "seed": 4})
    assert torch.equal(torch.cat(list(it)), tts.generate(SHORT, prompt, num_steps=2, seed=4).audio)


def test_stream_yields_one_piece_per_chunk(tts, prompt):
    text = "First part of the text, which goes on. Second part follows here, and ends."
    infos = []
    pieces = list(tts.stream(text, prompt, seed=1, chunk_tokens=30, chunk_infos=infos))
    assert len(infos) >= 2 and len(pieces) == len(infos)
    assert len(list(tts.stream(SHORT, prompt, seed=1))) == 1


def test_generate_speech_defaults_follow_the_model(tmp_path):
    tts = LuxTTS.from_pretrained(build_zipvoice_folder(tmp_path / "zv"), device="cpu")
    assert tts.defaults == ZIPVOICE_DEFAULTS
    voice = tts.encode_prompt(str(prompt_wav()), text=TRANSCRIPT)
    wav = tts.generate_speech("Hi.", voice, seed=2)
    assert wav.shape[0] == 1
    assert torch.equal(wav[0], tts.generate("Hi.", voice, seed=2).audio)


def test_threads_left_alone_by_from_pretrained_and_documented(folder):
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(3)
        LuxTTS.from_pretrained(folder, device="cpu")
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)
    assert "whole process" in LuxTTS.__doc__ and "leaves" in LuxTTS.from_pretrained.__doc__
    assert "1.9x" not in LuxTTS.from_pretrained.__doc__  # figures live in the README only


def test_documented_input_forms():
    doc = LuxTTS.encode_prompt.__doc__
    for form in ("path", "bytes", "'rb'", "(samples, sample_rate)", "stereo", "torch tensor", "int16"):
        assert form.strip("'") in doc.replace('"', "'"), form
    assert "(N,)" in LuxTTS.generate.__doc__ and "(1, N)" in LuxTTS.generate_speech.__doc__
    stream_doc = LuxTTS.stream.__doc__
    assert "saved voice name" in stream_doc and "Tokens" in stream_doc and "one piece per chunk" in stream_doc


@pytest.mark.parametrize("kwargs", [
    {"name_or_path": 123}, {"name_or_path": b"folder"}, {"name_or_path": "a" * 5000},
    {"name_or_path": "/nonexistent/model"}, {"vocoder": 5}, {"device": np.zeros(1000)}, {"threads": "four"},
])
def test_from_pretrained_bad_arguments(folder, kwargs):
    kwargs = {"name_or_path": folder, "device": "cpu", **kwargs}
    with pytest.raises(LuxTTSError) as e:
        LuxTTS.from_pretrained(**kwargs)
    short_error(e)


def test_even_kernel_config_is_a_config_error(tmp_path):
    folder = build_luxtts_folder(tmp_path / "m")
    config = json.loads((folder / "config.json").read_text())
    config["model"]["fm_decoder_cnn_module_kernel"] = [14, 7, 5, 7, 15]
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ConfigError, match="odd") as e:
        LuxTTS.from_pretrained(folder, device="cpu")
    short_error(e)


# ------------------------------------------------------------------------------------------------ results


def speech(seconds=0.2, rate=48000) -> SpeechResult:
    t = torch.arange(int(seconds * rate)) / rate
    return SpeechResult(0.3 * torch.sin(2 * torch.pi * 220 * t), rate)


def test_speech_result_save(tmp_path):
    result = speech()
    path = result.save(tmp_path / "out.flac")
    assert sf.info(str(path)).format == "FLAC" and sf.info(str(path)).frames == result.audio.shape[0]
    before = path.read_bytes()
    with pytest.raises(OutputExistsError, match="overwrite=True") as e:
        speech(0.1).save(path)
    assert isinstance(e.value, FileExistsError) and path.read_bytes() == before
    speech(0.1).save(path, overwrite=True)
    assert sf.info(str(path)).frames == 4800
    assert sf.info(str(result.save(tmp_path / "out.ogg"))).format == "OGG"
    with pytest.raises(AudioWriteError):
        result.save(tmp_path / "missing" / "x.wav")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.flac", "out.ogg"]  # no temporary files left
    assert "tensor" not in repr(result) and len(repr(result)) < 120


def test_every_exception_type_is_a_luxtts_error():
    import luxtts

    for name in luxtts.__all__:
        obj = getattr(luxtts, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, LuxTTSError), name
