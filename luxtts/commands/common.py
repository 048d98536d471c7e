"""What every ``luxtts`` subcommand shares: exit codes, option groups, defaults, and the output-path rules.

Light at import (argparse, os, pathlib): ``luxtts.cli`` imports this to build its parser.

Output rules, the same for every command that writes (speak, convert, voice add):
- an output that is the same file as one of the command's inputs (realpath or same inode) is refused, even
  with ``--force``;
- an existing output is refused unless ``--force``;
- files are written beside the target under a temporary name and renamed over it at the end.
"""

from __future__ import annotations

import argparse
import difflib
import os
from pathlib import Path
from typing import Iterable, Sequence, Union

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
DEFAULT_MODEL_ENV = "LUXTTS_MODEL"
DTYPES = ("float32", "float16", "bfloat16")
SAMPLE_RATES = (48000, 24000)
# One source for the int8 numbers: docs/python.md quotes this sentence (tests/test_cli_interface.py checks it).
QUANTIZE_SUMMARY = ("about 2x faster and 380 MB smaller (workload W1 on a 2-core x86 CPU, see docs/speed.md), "
                    "at a small cost in fidelity")

PathLike = Union[str, os.PathLike]


def default_model() -> str:
    """The model every command uses without --model: $LUXTTS_MODEL, else the published LuxTTS."""
    from ..hub import DEFAULT_MODEL

    return os.environ.get(DEFAULT_MODEL_ENV) or DEFAULT_MODEL


def add_model_args(p: argparse.ArgumentParser, device: bool = True) -> None:
    p.add_argument("--model", default=None, metavar="DIR_OR_REPO",
                   help=f"model folder or Hugging Face repo id (default: ${DEFAULT_MODEL_ENV}, else YatharthS/LuxTTS)")
    if device:
        p.add_argument("--device", default="auto",
                       help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:N or mps (default: auto)")
        p.add_argument("--dtype", default=None, choices=DTYPES,
                       help="network precision (default: float32; the vocoder always runs in float32)")


def add_prompt_args(p: argparse.ArgumentParser) -> None:
    """How a recording becomes a voice: the same names for speak and voice add."""
    p.add_argument("--voice-text", "--text", dest="voice_text", metavar="TEXT",
                   help="transcript of the reference recording (default: speech recognition, needs luxtts[asr]); "
                        "--text is an old spelling")
    p.add_argument("--duration", type=float, default=None, metavar="SECONDS",
                   help="seconds from the start of the recording to use, > 0 (default: 5)")
    p.add_argument("--rms", type=float, default=None,
                   help="loudness a quieter recording is raised to, > 0 (default: 0.01)")


def prompt_settings(args: argparse.Namespace) -> tuple:
    """(duration, rms) from add_prompt_args, checked, defaults filled in."""
    import math

    from ..errors import InvalidOptionError

    duration = 5.0 if args.duration is None else args.duration
    rms = 0.01 if args.rms is None else args.rms
    if not (math.isfinite(duration) and duration > 0):
        raise InvalidOptionError(f"--duration must be a number of seconds > 0, got {args.duration}")
    if not (math.isfinite(rms) and rms > 0):
        raise InvalidOptionError(f"--rms must be a finite number > 0, got {args.rms}")
    return duration, rms


def add_force(p: argparse.ArgumentParser, what: str = "an existing output file") -> None:
    p.add_argument("--force", action="store_true", help=f"replace {what} (never one of the command's inputs)")


# ------------------------------------------------------------------------------------------------ outputs


def same_file(a: PathLike, b: PathLike) -> bool:
    """True when the two paths name one file (same resolved path, or same inode through a link)."""
    pa, pb = Path(os.fspath(a)).expanduser(), Path(os.fspath(b)).expanduser()
    if os.path.realpath(pa) == os.path.realpath(pb):
        return True
    try:
        return pa.exists() and pb.exists() and os.path.samefile(pa, pb)
    except OSError:
        return False


def check_not_input(output: PathLike, inputs: Iterable[tuple]) -> None:
    """Refuse ``output`` when it is one of ``inputs``: (label, path) pairs, None paths skipped."""
    from ..errors import OutputIsInputError

    for label, path in inputs:
        if path is not None and same_file(output, path):
            raise OutputIsInputError(
                f"output {os.fspath(output)!r} is the {label} ({os.fspath(path)}); refusing to overwrite an input, "
                "give another output path"
            )


def check_new_output(output: PathLike, force: bool, inputs: Iterable[tuple] = ()) -> Path:
    """The checks every writing command makes before doing any work; returns the expanded path."""
    from ..errors import InvalidOptionError, OutputExistsError

    path = Path(os.fspath(output)).expanduser()
    check_not_input(path, inputs)
    if path.is_dir():
        raise InvalidOptionError(f"output {os.fspath(output)!r} is a folder; give a file name")
    if not path.parent.is_dir():
        raise InvalidOptionError(f"output folder {str(path.parent)!r} does not exist")
    if path.exists() and not force:
        raise OutputExistsError(f"output {os.fspath(output)!r} already exists; pass --force to replace it")
    return path


def new_file_mode() -> int:
    """The permission bits a newly created file gets under the current umask."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


# ------------------------------------------------------------------------------------------------ hints


def did_you_mean(word: str, choices: Sequence[str]) -> str:
    """' (did you mean X?)' for the closest of ``choices``, or ''."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def describe_rate(rate: int) -> str:
    khz = rate / 1000
    return f"{khz:g} kHz"


def human_seconds(seconds: float) -> str:
    seconds = max(float(seconds), 0.0)
    if seconds < 60:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"
