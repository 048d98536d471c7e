"""The ``luxtts`` command on the golden model folder: files it writes, saved voices, conversion, errors."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from conftest import golden_cases, load_golden
from cli_args import CASE, TEXT, speak_argv
from golden_model import PIPELINE, prompt_wav
from luxtts.cli import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, main
from luxtts.errors import InvalidOptionError

REPO = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.usefixtures("isolated_home")


def speak(model, out, *extra, text=TEXT, voice=None):
    return main(speak_argv(model, out, *extra, text=text, voice=voice, transcript=voice is None))


def error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.strip().splitlines() if not line.startswith("luxtts: wrote ")]
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize("case", golden_cases(PIPELINE))
def test_speak_writes_a_48k_file_of_the_expected_length(model, tmp_path, case):
    out = tmp_path / "out.wav"
    rc = speak(model, out, "--speed", str(case["speed"]), "--t-shift", str(case["t_shift"]),
               "--steps", str(case["num_steps"]), "--guidance", str(case["guidance_scale"]),
               "--rms", str(case["rms"]), "--duration", str(case["prompt_duration"]), "--chunk-tokens", "0",
               text=case["text"])
    assert rc == EXIT_OK
    info = sf.info(str(out))
    assert info.samplerate == 48000 and info.channels == 1 and info.format == "WAV"
    # same token counts, frames and vocoder as the reference run, so the same number of samples
    assert info.frames == load_golden(PIPELINE, case["file"])["wav_48k"].shape[-1]
    audio, _ = sf.read(str(out), dtype="float32")
    assert np.isfinite(audio).all() and np.abs(audio).max() <= 1.0 and np.abs(audio).max() > 0


def test_speak_file_equals_the_api_output(model, tmp_path):
    from luxtts import LuxTTS

    out = tmp_path / "out.wav"
    assert speak(model, out) == EXIT_OK
    tts = LuxTTS.from_pretrained(model, device="cpu")
    prompt = tts.encode_prompt(str(prompt_wav()), text=CASE["prompt_text"])
    want = tts.generate_speech(TEXT, prompt, seed=0)[0].numpy()
    got, rate = sf.read(str(out), dtype="float32")
    assert rate == 48000 and np.array_equal(got, want)


def test_speak_24k_flac_and_smooth(model, tmp_path):
    assert speak(model, tmp_path / "a.wav") == EXIT_OK
    n48 = sf.info(str(tmp_path / "a.wav")).frames
    assert speak(model, tmp_path / "b.flac", "--sample-rate", "24000") == EXIT_OK
    info = sf.info(str(tmp_path / "b.flac"))
    assert info.format == "FLAC" and info.samplerate == 24000 and info.frames * 2 == n48
    assert speak(model, tmp_path / "c.out", "--format", "wav", "--smooth") == EXIT_OK
    smooth, _ = sf.read(str(tmp_path / "c.out"), dtype="float32")
    sharp, _ = sf.read(str(tmp_path / "a.wav"), dtype="float32")
    assert smooth.shape == sharp.shape and not np.array_equal(smooth, sharp)


def test_text_from_file(model, tmp_path):
    (tmp_path / "t.txt").write_text(TEXT + "\n", encoding="utf-8")
    args = ["speak", "-f", str(tmp_path / "t.txt"), "--voice", str(prompt_wav()), "--voice-text",
            CASE["prompt_text"], "--model", str(model), "-o", str(tmp_path / "f.wav"), "--device", "cpu",
            "--seed", "0"]
    assert main(args) == EXIT_OK
    assert speak(model, tmp_path / "g.wav") == EXIT_OK
    assert np.array_equal(sf.read(str(tmp_path / "f.wav"))[0], sf.read(str(tmp_path / "g.wav"))[0])


def test_saved_voice_gives_the_same_audio_as_the_file(model, tmp_path, capsys):
    assert main(["voice", "add", "narrator", str(prompt_wav()), "--text", CASE["prompt_text"],
                 "--model", str(model)]) == EXIT_OK
    assert "narrator" in capsys.readouterr().out
    assert main(["voice", "list"]) == EXIT_OK
    assert capsys.readouterr().out.split() == ["narrator"]
    from luxtts.voices import open_store

    with open_store() as store:
        assert store.get("narrator").audio_filename == prompt_wav().name
        assert store.original_audio("narrator") == prompt_wav().read_bytes()
    assert (tmp_path / "home" / "voices.db").is_file()

    assert speak(model, tmp_path / "by_name.wav", voice="narrator") == EXIT_OK
    assert speak(model, tmp_path / "by_file.wav") == EXIT_OK
    by_name, _ = sf.read(str(tmp_path / "by_name.wav"), dtype="float32")
    by_file, _ = sf.read(str(tmp_path / "by_file.wav"), dtype="float32")
    assert np.array_equal(by_name, by_file)

    from luxtts.voices import load_voice

    saved = load_voice("narrator").save(tmp_path / "narrator.safetensors")
    assert speak(model, tmp_path / "by_path.wav", voice=saved) == EXIT_OK
    assert np.array_equal(sf.read(str(tmp_path / "by_path.wav"), dtype="float32")[0], by_file)

    assert main(["voice", "add", "narrator", str(prompt_wav()), "--text", "x", "--model", str(model)]) == EXIT_USAGE
    assert "already exists" in error_line(capsys)
    assert main(["voice", "rm", "narrator"]) == EXIT_OK
    capsys.readouterr()
    assert main(["voice", "list"]) == EXIT_OK
    assert capsys.readouterr().out == ""
    assert main(["voice", "rm", "narrator"]) == EXIT_USAGE
    assert "no saved voice named 'narrator'" in error_line(capsys)


def test_bad_voice_name(capsys):
    assert main(["voice", "add", "../evil", str(prompt_wav()), "--text", "x"]) == EXIT_USAGE
    assert "voice name '../evil' is not allowed" in error_line(capsys)


@pytest.mark.parametrize("extra,message", [
    (["--steps", "0"], "luxtts: error: num_steps must be an integer from 1 to 1000, got 0"),
    (["--speed", "0"], "luxtts: error: speed must be a finite number > 0, got 0.0"),
    (["--speed", "-1.5"], "luxtts: error: speed must be a finite number > 0, got -1.5"),
    (["--t-shift", "0"], "luxtts: error: t_shift must be a finite number > 0, got 0.0"),
    (["--guidance", "nan"], "luxtts: error: guidance_scale must be a finite number >= 0, got nan"),
    (["--device", "tpu"], "luxtts: error: device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps', got 'tpu'"),
    (["--chunk-tokens", "-1"], "luxtts: error: --chunk-tokens must be >= 0"),
])
def test_bad_arguments(model, tmp_path, capsys, extra, message):
    assert speak(model, tmp_path / "o.wav", *extra) == EXIT_USAGE
    assert error_line(capsys).startswith(message)
    assert not (tmp_path / "o.wav").exists()


def test_missing_voice(model, tmp_path, capsys):
    assert speak(model, tmp_path / "o.wav", voice="nobody") == EXIT_USAGE
    line = error_line(capsys)
    assert line.startswith("luxtts: error: voice 'nobody' is neither an audio file nor a saved voice")
    assert speak(model, tmp_path / "o.wav", voice=tmp_path / "missing.wav") == EXIT_USAGE
    assert "is neither an audio file nor a saved voice" in error_line(capsys)


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_empty_text(model, tmp_path, capsys, text):
    assert speak(model, tmp_path / "o.wav", text=text) == EXIT_USAGE
    assert error_line(capsys) == "luxtts: error: the text to speak is empty; give at least one word"


def test_text_twice_or_never(model, tmp_path, capsys):
    (tmp_path / "t.txt").write_text("hi")
    assert speak(model, tmp_path / "o.wav", "-f", str(tmp_path / "t.txt")) == EXIT_USAGE
    assert "exactly one" in error_line(capsys)
    assert main(["speak", "--voice", "x", "-o", str(tmp_path / "o.wav")]) == EXIT_USAGE
    assert "exactly one" in error_line(capsys)


@pytest.mark.parametrize("argv,fragment", [
    (["speak", "hi", "-o", "x.wav"], "the following arguments are required: -v/--voice"),
    (["speak", "hi", "--voice", "v", "-o", "x.wav", "--steps", "four"], "argument --steps: invalid int value"),
    (["speak", "hi", "--voice", "v", "-o", "x.wav", "--sample-rate", "44100"], "argument --sample-rate"),
    (["speak", "hi", "--voice", "v", "-o", "x.wav", "--format", "aiff"], "argument --format"),
    (["fly"], "invalid choice: 'fly'"),
])
def test_usage_errors_are_one_line(capsys, argv, fragment):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == EXIT_USAGE
    line = error_line(capsys)
    assert line.startswith("luxtts") and fragment in line


def test_unwritable_output_fails_before_synthesis(model, tmp_path, capsys):
    assert speak(model, tmp_path / "no" / "dir" / "o.wav") == EXIT_USAGE
    assert "does not exist" in error_line(capsys)
    assert speak(model, tmp_path / "o.unknown") == EXIT_USAGE
    assert "cannot tell the output format" in error_line(capsys)


def test_missing_transcript_without_asr(model, tmp_path, capsys, monkeypatch):
    import luxtts.asr

    monkeypatch.setattr(luxtts.asr, "available_backend", lambda: None)
    rc = main(["speak", TEXT, "--voice", str(prompt_wav()), "--model", str(model), "-o", str(tmp_path / "o.wav"),
               "--device", "cpu"])
    assert rc == EXIT_USAGE
    line = error_line(capsys)
    assert "--voice-text" in line and 'pip install "luxtts[asr]"' in line


def test_unreadable_voice_audio_is_a_failure(model, tmp_path, capsys):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF....not audio")
    assert speak(model, tmp_path / "o.wav", voice=bad) == EXIT_FAILURE
    assert "cannot decode as audio" in error_line(capsys)


def test_debug_shows_the_exception_and_keeps_the_exit_code(model, tmp_path, capsys):
    assert speak(model, tmp_path / "o.wav", "--steps", "0", "--debug") == EXIT_USAGE
    err = capsys.readouterr().err
    assert "Traceback" in err and InvalidOptionError.__name__ in err
    assert err.strip().splitlines()[-1].startswith("luxtts: error: num_steps must be")


def test_convert_a_weight_file(model, tmp_path, capsys):
    from luxtts.weights import read_state_dict

    out = tmp_path / "model.safetensors"
    assert main(["convert", str(model / "model.pt"), str(out)]) == EXIT_OK
    a, b = read_state_dict(model / "model.pt"), read_state_dict(out)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert main(["convert", str(model / "model.pt"), str(tmp_path / "model.bin")]) == EXIT_USAGE
    assert "must end in .safetensors" in error_line(capsys)


def test_convert_a_model_folder_speaks_the_same(model, tmp_path, capsys):
    out = tmp_path / "converted"
    assert main(["convert", str(model), str(out)]) == EXIT_OK
    assert (out / "model.safetensors").is_file() and (out / "vocoder" / "model.safetensors").is_file()
    assert not list(out.rglob("*.pt")) and not list(out.rglob("*.bin"))
    assert speak(out, tmp_path / "new.wav") == EXIT_OK
    assert speak(model, tmp_path / "old.wav") == EXIT_OK
    assert np.array_equal(sf.read(str(tmp_path / "new.wav"))[0], sf.read(str(tmp_path / "old.wav"))[0])


def test_info(model, capsys):
    assert main(["info", "--model", str(model), "--device", "cpu"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "LuxTTS, distilled (ZipVoice-Distill)" in out
    assert "48 kHz dual-head Vocos" in out
    assert "torch:" in out and "device:" in out


def run_cli(*args, env=None, stdin=None):
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run([sys.executable, "-m", "luxtts", *args], capture_output=True, env=full_env,
                          input=stdin, timeout=300)


def test_stdout_output_via_python_m(model, tmp_path):
    out = run_cli("speak", TEXT, "--voice", str(prompt_wav()), "--voice-text", CASE["prompt_text"], "--model",
                  str(model), "-o", "-", "--device", "cpu", "--seed", "0", env={"LUXTTS_HOME": str(tmp_path)})
    assert out.returncode == 0, out.stderr.decode()
    audio, rate = sf.read(io.BytesIO(out.stdout), dtype="float32")
    assert rate == 48000 and audio.ndim == 1 and audio.shape[0] > 0
    assert b"Traceback" not in out.stderr


def test_offline_and_not_cached_from_the_command_line(tmp_path):
    out = run_cli("speak", TEXT, "--voice", str(prompt_wav()), "--voice-text", "x", "-o", str(tmp_path / "o.wav"),
                  "--device", "cpu", env={"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"),
                                          "LUXTTS_HOME": str(tmp_path)})
    assert out.returncode == EXIT_FAILURE
    err = out.stderr.decode().strip().splitlines()
    assert len(err) == 1 and err[0].startswith("luxtts: error: model 'YatharthS/LuxTTS' is not in the Hugging Face")
    assert "HF_HUB_OFFLINE=1" in err[0] and "--model /path/to/folder" in err[0]
    assert not (tmp_path / "o.wav").exists()


def test_help_lists_the_commands():
    out = run_cli("--help")
    assert out.returncode == 0
    for name in ("speak", "voice", "convert", "info"):
        assert name in out.stdout.decode()


def test_speak_quantize_int8_equals_the_int8_api_output(model, tmp_path):
    from luxtts import LuxTTS

    out = tmp_path / "q.wav"
    assert speak(model, out, "--quantize", "int8") == EXIT_OK
    tts = LuxTTS.from_pretrained(model, device="cpu", quantize="int8")
    prompt = tts.encode_prompt(str(prompt_wav()), text=CASE["prompt_text"])
    want = tts.generate_speech(TEXT, prompt, seed=0)[0].numpy()
    got, rate = sf.read(str(out), dtype="float32")
    assert rate == 48000 and np.array_equal(got, want)
