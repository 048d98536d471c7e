"""The command line and the user's files: inputs are never overwritten, outputs only with --force, modes."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from cli_args import CASE, TEXT, speak_argv
from golden_model import prompt_wav
from luxtts.cli import EXIT_OK, EXIT_USAGE, main
from luxtts.voices import load_voice



pytestmark = pytest.mark.usefixtures("isolated_home")


def speak(model, out, *extra, voice=None, text=TEXT):
    transcript = voice is None or Path(voice).suffix == ".wav"
    return main(speak_argv(model, out, *extra, text=text, voice=voice, transcript=transcript, quiet=True))


def last_error(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err.strip().splitlines()[-1]


def test_output_that_is_the_voice_recording_is_refused_even_with_force(model, tmp_path, capsys):
    ref = tmp_path / "myref.wav"
    ref.write_bytes(prompt_wav().read_bytes())
    before = ref.read_bytes()
    for extra in ([], ["--force"]):
        assert speak(model, ref, *extra, voice=ref) == EXIT_USAGE
        assert "is the voice recording" in last_error(capsys)
    link = tmp_path / "link.wav"
    link.symlink_to(ref)
    hard = tmp_path / "hard.wav"
    os.link(ref, hard)
    for other in (link, hard, tmp_path / "sub" / ".." / "myref.wav"):
        (tmp_path / "sub").mkdir(exist_ok=True)
        assert speak(model, other, "--force", voice=ref) == EXIT_USAGE
        assert "is the voice recording" in last_error(capsys)
    assert ref.read_bytes() == before


def test_output_that_is_the_text_file_is_refused(model, tmp_path, capsys):
    text = tmp_path / "c2.txt"
    text.write_text(TEXT, encoding="utf-8")
    rc = main(["speak", "-f", str(text), "--voice", str(prompt_wav()), "--voice-text", CASE["prompt_text"],
               "--model", str(model), "-o", str(text), "--format", "wav", "--force", "--device", "cpu"])
    assert rc == EXIT_USAGE
    assert "is the text file" in last_error(capsys)
    assert text.read_text(encoding="utf-8") == TEXT


def test_output_that_is_a_model_file_is_refused(model, tmp_path, capsys):
    target = model / "vocoder" / "vocos.bin"
    before = target.read_bytes()
    assert speak(model, target, "--format", "wav", "--force") == EXIT_USAGE
    assert "is the model's vocoder_weights" in last_error(capsys)
    assert target.read_bytes() == before


def test_existing_output_needs_force(model, tmp_path, capsys):
    out = tmp_path / "keep.wav"
    out.write_bytes(b"precious")
    assert speak(model, out) == EXIT_USAGE
    assert last_error(capsys) == f"luxtts: error: output {str(out)!r} already exists; pass --force to replace it"
    assert out.read_bytes() == b"precious"
    assert speak(model, out, "--force") == EXIT_OK
    audio, rate = sf.read(str(out), dtype="float32")
    assert rate == 48000 and audio.size > 0
    assert not list(tmp_path.glob("*.partial*"))


def test_written_audio_follows_the_umask(model, tmp_path):
    old = os.umask(0o027)
    try:
        assert speak(model, tmp_path / "a.wav") == EXIT_OK
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.wav").stat().st_mode) == 0o640


def test_voice_add_refuses_an_existing_voice_and_keeps_it_private(model, tmp_path, capsys):
    old = os.umask(0o022)
    try:
        add = ["voice", "add", "me", str(prompt_wav()), "--voice-text", CASE["prompt_text"], "--model", str(model)]
        assert main(add) == EXIT_OK
        library = tmp_path / "home" / "voices.db"  # the voice library: private whatever the umask
        assert stat.S_IMODE(library.stat().st_mode) == 0o600
        before = load_voice("me")
        assert main(add[:-4] + ["--text", "Other words.", "--model", str(model)]) == EXIT_USAGE
        assert "already exists" in last_error(capsys) and load_voice("me") == before
        assert main(add[:-4] + ["--text", "Other words.", "--model", str(model), "--force"]) == EXIT_OK
        assert load_voice("me").transcript == "Other words." and stat.S_IMODE(library.stat().st_mode) == 0o600
    finally:
        os.umask(old)


def test_convert_refuses_existing_and_input_destinations(model, tmp_path, capsys):
    out = tmp_path / "m.safetensors"
    out.write_bytes(b"precious")
    assert main(["convert", str(model / "model.pt"), str(out)]) == EXIT_USAGE
    assert "already exists; pass --force" in last_error(capsys)
    assert out.read_bytes() == b"precious"
    assert main(["convert", str(model / "model.pt"), str(out), "--force"]) == EXIT_OK
    assert out.read_bytes() != b"precious"
    # a model converted into its own folder would replace its sources
    assert main(["convert", str(model), str(model), "--force"]) == EXIT_USAGE
    assert "is the source model's folder" in last_error(capsys)


def test_converted_files_follow_the_umask(model, tmp_path):
    old = os.umask(0o022)
    try:
        assert main(["convert", str(model / "model.pt"), str(tmp_path / "one.safetensors")]) == EXIT_OK
        assert main(["convert", str(model), str(tmp_path / "folder")]) == EXIT_OK
    finally:
        os.umask(old)
    files = [tmp_path / "one.safetensors", *[p for p in (tmp_path / "folder").rglob("*") if p.is_file()]]
    assert len(files) == 6
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in files} == {p.name: 0o644 for p in files}
    assert main(["convert", str(model), str(tmp_path / "folder")]) == EXIT_USAGE
    assert main(["convert", str(model), str(tmp_path / "folder"), "--force"]) == EXIT_OK
    assert not list((tmp_path / "folder").rglob("*.tmp"))


def test_convert_offline_error_points_at_source_not_model(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    assert main(["convert", "someone/absent-model", str(tmp_path / "out")]) != EXIT_OK
    line = last_error(capsys)
    assert "HF_HUB_OFFLINE=1" in line and "--model" not in line and "as SOURCE" in line
    assert not (tmp_path / "out").exists()


def test_saved_voice_refuses_encoding_options(model, tmp_path, capsys):
    assert main(["voice", "add", "me", str(prompt_wav()), "--voice-text", CASE["prompt_text"],
                 "--model", str(model)]) == EXIT_OK
    for extra in (["--duration", "3"], ["--rms", "0.1"], ["--voice-text", "x"]):
        assert speak(model, tmp_path / "o.wav", *extra, voice="me") == EXIT_USAGE
        assert "already encoded" in last_error(capsys)
    assert not (tmp_path / "o.wav").exists()
    assert speak(model, tmp_path / "o.wav", voice="me") == EXIT_OK
    assert np.abs(sf.read(str(tmp_path / "o.wav"))[0]).max() > 0
