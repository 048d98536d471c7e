"""One consistent command line: names, hints, exit codes, formats, help texts, progress and summary lines."""

from __future__ import annotations

import argparse
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf

from cli_args import CASE, TEXT, speak_argv
from golden_model import prompt_wav
from luxtts.cli import EXIT_OK, EXIT_USAGE, build_parser, main
from luxtts.commands.common import QUANTIZE_SUMMARY

REPO = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.usefixtures("isolated_home")


def base(model, out, voice=None):
    return speak_argv(model, out, voice=voice, transcript=voice is None)


def usage_error(capsys, argv) -> str:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == EXIT_USAGE
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    return lines[0]


def run_cli(*args, env=None, **kw):
    full = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "luxtts", *args], env=full, timeout=300, **kw)


def test_one_transcript_flag_with_the_old_spelling_kept(capsys):
    for argv in (["speak", "hi", "-v", "x", "-o", "o.wav", "--text", "t"],
                 ["voice", "add", "n", "a.wav", "--voice-text", "t"], ["voice", "add", "n", "a.wav", "--text", "t"]):
        args, extras = build_parser().parse_known_args(argv)
        assert not extras and args.voice_text == "t"


def test_misspelled_options_get_a_suggestion_and_the_subcommand_usage(capsys):
    line = usage_error(capsys, ["speak", "hi", "-v", "x", "-o", "o.wav", "--voice-txt", "t"])
    assert "(did you mean --voice-text?)" in line and "(see luxtts speak --help)" in line
    line = usage_error(capsys, ["voice", "add", "n", "a.wav", "--forse"])
    assert "(did you mean --force?)" in line and "(see luxtts voice add --help)" in line
    line = usage_error(capsys, ["voice", "lst"])
    assert "(did you mean list?)" in line
    line = usage_error(capsys, ["speek"])
    assert "(did you mean speak?)" in line


def test_misspelled_voice_names_get_a_suggestion(model, tmp_path, capsys):
    assert main(["voice", "add", "narrator", str(prompt_wav()), "--voice-text", CASE["prompt_text"],
                 "--model", str(model)]) == EXIT_OK
    capsys.readouterr()
    assert main(base(model, tmp_path / "o.wav", voice="narator")) == EXIT_USAGE
    assert capsys.readouterr().err.strip().endswith("did you mean 'narrator'?")
    assert main(["voice", "rm", "narator"]) == EXIT_USAGE
    assert capsys.readouterr().err.strip().endswith("did you mean 'narrator'?")


def test_exit_codes_do_not_depend_on_debug(tmp_path):
    argv = ["speak", TEXT, "--voice", "nobody", "-o", str(tmp_path / "o.wav")]
    plain, debug = run_cli(*argv, capture_output=True), run_cli(*argv, "--debug", capture_output=True)
    assert plain.returncode == debug.returncode == EXIT_USAGE
    assert b"Traceback" in debug.stderr and b"Traceback" not in plain.stderr


def test_info_honours_luxtts_model_and_validates(model, monkeypatch, capsys):
    monkeypatch.setenv("LUXTTS_MODEL", str(model))
    assert main(["info", "--device", "cpu"]) == EXIT_OK
    out = capsys.readouterr().out
    assert f"folder:        {model}" in out and "LuxTTS, distilled" in out
    assert "--dtype" in usage_error(capsys, ["info", "--dtype", "bogus"])
    assert main(["info", "--device", "tpu"]) == EXIT_USAGE


def test_info_offline_does_not_promise_a_download(tmp_path):
    out = run_cli("info", "--device", "cpu", env={"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"),
                                                  "LUXTTS_HOME": str(tmp_path)}, capture_output=True)
    assert out.returncode == 0
    line = [x for x in out.stdout.decode().splitlines() if x.startswith("model:")][0]
    assert "HF_HUB_OFFLINE=1" in line and "fetches it" not in line


def test_opus_to_stdout(model, tmp_path):
    out = run_cli(*base(model, "-"), "--format", "opus", capture_output=True, env={"LUXTTS_HOME": str(tmp_path)})
    assert out.returncode == 0, out.stderr.decode()
    info = sf.info(io.BytesIO(out.stdout))
    assert (info.format, info.subtype, info.samplerate) == ("OGG", "OPUS", 48000)


def test_suffix_and_format_must_agree(model, tmp_path, capsys):
    assert main(base(model, tmp_path / "x.flac") + ["--format", "mp3"]) == EXIT_USAGE
    assert "--format mp3 disagrees with the output suffix '.flac'" in capsys.readouterr().err
    assert not (tmp_path / "x.flac").exists()
    assert main(base(model, tmp_path / "x.audio") + ["--format", "flac", "--quiet"]) == EXIT_OK
    assert sf.info(str(tmp_path / "x.audio")).format == "FLAC"


def test_binary_audio_is_not_written_to_a_terminal(model, tmp_path):
    import pty

    leader, follower = pty.openpty()
    try:
        out = run_cli(*base(model, "-"), stdout=follower, stderr=subprocess.PIPE)
    finally:
        os.close(follower)
        os.close(leader)
    assert out.returncode == EXIT_USAGE
    assert b"refusing to write binary audio to a terminal" in out.stderr


def test_summary_progress_and_quiet(model, tmp_path, capsys):
    text = tmp_path / "t.txt"
    text.write_text("The quick brown fox jumps over the lazy dog near the river bank. " * 3, encoding="utf-8")
    argv = ["speak", "-f", str(text), "--voice", str(prompt_wav()), "--voice-text", CASE["prompt_text"],
            "--model", str(model), "--device", "cpu", "--steps", "1", "--chunk-tokens", "30", "--seed", "1"]
    assert main(argv + ["-o", str(tmp_path / "a.wav")]) == EXIT_OK
    lines = capsys.readouterr().err.strip().splitlines()
    progress = [x for x in lines if re.fullmatch(r"luxtts: \d+/\d+ chunks \(\d+%\)", x)]
    assert 1 <= len(progress) <= 11  # occasional lines, not one per chunk, when stderr is not a terminal
    seconds = sf.info(str(tmp_path / "a.wav")).duration
    assert re.fullmatch(rf"luxtts: wrote {seconds:.1f} s of 48 kHz audio to {re.escape(str(tmp_path / 'a.wav'))} "
                        r"in [\d.]+ s, RTF [\d.]+", lines[-1]), lines[-1]
    assert main(argv + ["-o", str(tmp_path / "b.wav"), "--quiet"]) == EXIT_OK
    assert capsys.readouterr().err == ""


def _parsers(parser: argparse.ArgumentParser):
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _parsers(sub)


def test_every_option_has_help_and_every_command_a_description():
    for parser in _parsers(build_parser()):
        assert parser.description, parser.prog
        for action in parser._actions:
            if not isinstance(action, argparse._SubParsersAction):
                assert action.help, (parser.prog, action.dest)
    bench = [p for p in _parsers(build_parser()) if p.prog == "luxtts bench"][0].format_help()
    assert re.search(r"--repeat REPEAT\s+.*\(default: 1\)", bench.replace("\n", " ")) or "(default: 1)" in bench
    speak = [p for p in _parsers(build_parser()) if p.prog == "luxtts speak"][0].format_help()
    assert "{float32,float16,bfloat16}" in speak and "{wav,flac,ogg,opus,mp3}" in speak


def _doc(name: str) -> str:
    return " ".join((REPO / name).read_text(encoding="utf-8").split())


def test_docs_and_help_share_their_numbers_and_formats():
    """The reference pages (docs/) quote what --help says; the README only points at them."""
    from luxtts.audio.write import FORMATS

    python_doc, cli_doc = _doc("docs/python.md"), _doc("docs/cli.md")
    assert QUANTIZE_SUMMARY in python_doc
    assert "48000 for LuxTTS" in python_doc
    for fmt in FORMATS:
        assert f"`{fmt}`" in cli_doc
    for flag in ("--force", "--resume", ".partial", ".partial.json", "--quiet"):
        assert flag in cli_doc
    assert "docs/cli.md" in _doc("README.md")


@pytest.mark.parametrize("extra,message", [
    (["--duration", "0"], "--duration must be a number of seconds > 0, got 0.0"),
    (["--duration", "nan"], "--duration must be a number of seconds > 0, got nan"),
    (["--rms", "-1"], "--rms must be a finite number > 0, got -1.0"),
])
def test_encoding_options_are_validated(model, tmp_path, capsys, extra, message):
    assert main(base(model, tmp_path / "o.wav") + extra) == EXIT_USAGE
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o.wav").exists()


def test_progress_is_a_bar_on_a_terminal(model, tmp_path):
    import fcntl
    import pty
    import struct
    import termios

    text = tmp_path / "t.txt"
    text.write_text("The quick brown fox jumps over the lazy dog near the river bank. " * 2, encoding="utf-8")
    leader, follower = pty.openpty()
    # a new pty is 0 columns wide, where tqdm draws nothing: give it a terminal's size
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    try:
        out = run_cli("speak", "-f", str(text), "--voice", str(prompt_wav()), "--voice-text", CASE["prompt_text"],
                      "--model", str(model), "--device", "cpu", "--steps", "1", "--chunk-tokens", "30",
                      "-o", str(tmp_path / "a.wav"), stderr=follower, stdout=subprocess.DEVNULL,
                      env={"LUXTTS_HOME": str(tmp_path)})
        os.set_blocking(leader, False)
        shown = b""
        while True:
            try:
                data = os.read(leader, 65536)
            except (BlockingIOError, OSError):
                break
            if not data:
                break
            shown += data
    finally:
        os.close(follower)
        os.close(leader)
    assert out.returncode == 0
    text_shown = shown.decode(errors="replace")
    assert "chunk/s" in text_shown or "s/chunk" in text_shown  # tqdm's rate field: a bar, not plain lines
    assert not re.search(r"luxtts: \d+/\d+ chunks", text_shown)
    assert "luxtts: wrote" in text_shown
