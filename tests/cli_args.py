"""The argument list of a `luxtts speak` run on the golden test model, shared by the CLI tests."""

from __future__ import annotations

from golden_model import pipeline_cases, prompt_wav

CASE = pipeline_cases()[0]
TEXT = "Short one."


def speak_argv(model, out, *extra, text=TEXT, voice=None, transcript=True, quiet=False) -> list:
    """``speak TEXT --voice V --model M -o OUT --device cpu --seed 0`` [+ --quiet] [+ the ARCTIC transcript] + extra."""
    args = ["speak", text, "--voice", str(voice or prompt_wav()), "--model", str(model), "-o", str(out),
            "--device", "cpu", "--seed", "0"]
    if quiet:
        args.append("--quiet")
    if transcript:
        args += ["--voice-text", CASE["prompt_text"]]
    return args + [str(e) if not isinstance(e, str) else e for e in extra]
