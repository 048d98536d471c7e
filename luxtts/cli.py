"""The ``luxtts`` command: speak, voice add/list/rm, convert, info.

Thin on purpose: arguments are checked here, the work is done by the library, imported only when a command
runs. Errors print one line on stderr (a traceback only with --debug). Exit codes: 0 success, 1 a failure
(model, audio, files), 2 a bad argument (option values, empty text, unknown voice), 130 interrupted.

Commands live in ``COMMANDS``; another module adds one with :func:`register`.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Optional, Sequence

from .errors import (InvalidOptionError, LuxTTSError, TextError, TranscriptionUnavailableError, VoiceExistsError,
                     VoiceNotFoundError)

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
USAGE_ERRORS = (InvalidOptionError, TextError, VoiceNotFoundError, VoiceExistsError, TranscriptionUnavailableError)
DEFAULT_MODEL_ENV = "LUXTTS_MODEL"
FORMATS = ("wav", "flac", "mp3", "ogg")
SAMPLE_RATES = (48000, 24000)


@dataclass(frozen=True)
class Command:
    """A subcommand: ``configure`` adds its arguments, ``run`` does the work and returns an exit code."""

    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


COMMANDS: List[Command] = []


def register(command: Command) -> Command:
    """Add (or replace) a subcommand."""
    COMMANDS[:] = [c for c in COMMANDS if c.name != command.name] + [command]
    return command


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors and our usage exit code."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# ------------------------------------------------------------------------------------------------ main


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = bool(getattr(args, "debug", False))
    _setup_logging(debug)
    if not hasattr(args, "run"):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return int(args.run(args) or EXIT_OK)
    except KeyboardInterrupt:
        if debug:
            raise
        print("luxtts: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except LuxTTSError as e:
        if debug:
            raise
        print(f"luxtts: error: {_one_line(e)}", file=sys.stderr)
        return EXIT_USAGE if isinstance(e, USAGE_ERRORS) else EXIT_FAILURE
    except (OSError, RuntimeError, ValueError) as e:
        if debug:
            raise
        print(f"luxtts: error: {type(e).__name__}: {_one_line(e)} (run with --debug for details)", file=sys.stderr)
        return EXIT_FAILURE


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show debug logs and full tracebacks")
    parser = _Parser(prog="luxtts", description="Zero-shot voice-cloning text to speech (LuxTTS).",
                     parents=[common])
    parser.add_argument("--version", action="version", version=f"luxtts {_version()}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=_Parser)
    for command in COMMANDS:
        p = sub.add_parser(command.name, help=command.help, description=command.help, parents=[common])
        command.configure(p)
        p.set_defaults(run=command.run)
    return parser


def _setup_logging(debug: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format="luxtts: %(levelname)s: %(message)s")

    def one_line(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001 - warnings API
        print(f"luxtts: warning: {message}", file=sys.stderr)

    if not debug:
        warnings.showwarning = one_line


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def _version() -> str:
    from . import __version__

    return __version__


def _default_model() -> str:
    from .hub import DEFAULT_MODEL

    return os.environ.get(DEFAULT_MODEL_ENV) or DEFAULT_MODEL


# ------------------------------------------------------------------------------------------------ speak


def _configure_speak(p: argparse.ArgumentParser) -> None:
    p.add_argument("text", nargs="?", help="what to say (or use -f)")
    p.add_argument("-f", "--file", help="read the text from this file ('-' = stdin)")
    p.add_argument("-v", "--voice", required=True,
                   help="reference recording (wav, flac, mp3, ...), a saved voice name, or a saved voice file")
    p.add_argument("--voice-text", help="transcript of the reference recording (else speech recognition)")
    p.add_argument("-o", "--output", required=True, help="output file, or '-' for stdout")
    _model_args(p)
    p.add_argument("--quantize", choices=["int8"], default=None,
                   help="int8 linear layers on the CPU: ~1.9x faster, ~350 MB less memory, slightly lower fidelity")
    p.add_argument("--steps", type=int, help="sampling steps (default: the model's, 4 for LuxTTS)")
    p.add_argument("--speed", type=float, help="speaking rate, > 0 (default 1.0; LuxTTS applies x1.3 inside)")
    p.add_argument("--t-shift", type=float, help="time-grid shift, > 0 (default 0.5)")
    p.add_argument("--guidance", type=float, help="guidance scale, >= 0 (default 3.0)")
    p.add_argument("--seed", type=int, help="random seed for reproducible output")
    p.add_argument("--format", choices=FORMATS, help="output format (default: from the file suffix, wav for '-')")
    p.add_argument("--sample-rate", type=int, choices=SAMPLE_RATES, help="output rate in Hz (default: the model's)")
    p.add_argument("--smooth", action="store_true", help="use only the vocoder's 24 kHz head (can sound smoother)")
    _prompt_args(p)
    p.add_argument("--chunk-tokens", type=int, default=100,
                   help="most tokens spoken in one pass; longer text is split at punctuation (0 = never split)")


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=None,
                   help=f"model folder or Hugging Face repo id (default: ${DEFAULT_MODEL_ENV} or YatharthS/LuxTTS)")
    p.add_argument("--device", default="auto", help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:N or mps")
    p.add_argument("--dtype", default=None, help="float32 (default), float16 or bfloat16")


def _prompt_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--duration", type=float, default=5.0, help="seconds of the reference to use (default 5)")
    p.add_argument("--rms", type=float, default=0.01, help="loudness a quiet reference is raised to (default 0.01)")


def _run_speak(args: argparse.Namespace) -> int:
    from .options import SynthesisOptions

    text = _read_text(args.text, args.file)
    options = SynthesisOptions(num_steps=args.steps, guidance_scale=args.guidance, t_shift=args.t_shift,
                               speed=args.speed, seed=args.seed)
    if args.chunk_tokens < 0:
        raise InvalidOptionError(f"--chunk-tokens must be >= 0 (0 = never split), got {args.chunk_tokens}")
    _check_output(args.output, args.format)

    from .devices import resolve_device
    from .pipeline import LuxTTS
    from .voices import find_voice

    device = resolve_device(args.device)
    voice = find_voice(args.voice)
    if not isinstance(voice, Path) and args.voice_text is not None:
        logging.getLogger("luxtts").warning("--voice-text is ignored: %r is an already encoded voice", args.voice)
    tts = LuxTTS.from_pretrained(args.model or _default_model(), device=device, dtype=args.dtype,
                                 quantize=args.quantize)
    if isinstance(voice, Path):
        voice = tts.encode_prompt(str(voice), duration=args.duration, rms=args.rms, text=args.voice_text)
    with _ProgressBar() as bar:
        result = tts.generate(text, voice, options, smooth=args.smooth, sample_rate=args.sample_rate,
                              chunk_tokens=args.chunk_tokens, progress=bar.update)
    from .audio import write_audio

    write_audio(args.output, result.audio, result.sample_rate, format=args.format)
    logging.getLogger("luxtts").info("wrote %.2f s of audio in %.2f s", result.duration, result.timings["total"])
    return EXIT_OK


def _read_text(text: Optional[str], file: Optional[str]) -> str:
    from .errors import EmptyTextError

    if (text is None) == (file is None):
        raise InvalidOptionError("give the text to speak either as an argument or with -f FILE (exactly one)")
    if file is not None:
        try:
            text = sys.stdin.read() if file == "-" else Path(file).expanduser().read_text(encoding="utf-8")
        except FileNotFoundError:
            raise InvalidOptionError(f"text file not found: {file}") from None
        except (OSError, UnicodeDecodeError) as e:
            raise InvalidOptionError(f"cannot read the text file {file}: {e}") from None
    if not text or not text.strip():
        raise EmptyTextError("the text to speak is empty; give at least one word")
    return text


def _check_output(output: str, fmt: Optional[str]) -> None:
    """Fail before any synthesis if the output cannot be written."""
    from .audio.write import SUFFIXES

    if output == "-":
        return
    path = Path(output).expanduser()
    if path.is_dir():
        raise InvalidOptionError(f"output {output!r} is a folder; give a file name")
    if not path.parent.is_dir():
        raise InvalidOptionError(f"output folder {str(path.parent)!r} does not exist")
    if fmt is None and path.suffix.lower() not in SUFFIXES:
        raise InvalidOptionError(
            f"cannot tell the output format from {output!r}; use a suffix ({', '.join(sorted(SUFFIXES))}) or --format"
        )


class _ProgressBar:
    """A tqdm bar over chunks, shown only for multi-chunk text on a terminal."""

    def __init__(self) -> None:
        self._bar = None

    def __enter__(self) -> "_ProgressBar":
        return self

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.close()

    def update(self, done: int, total: int) -> None:
        if total <= 1:
            return
        if self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(total=total, unit="chunk", desc="luxtts", disable=None, leave=False)
        self._bar.update(done - self._bar.n)


# ------------------------------------------------------------------------------------------------ voice


def _configure_voice(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(title="voice commands", metavar="ACTION", parser_class=_Parser)
    add = sub.add_parser("add", help="encode a reference recording and save it under a name")
    add.add_argument("name")
    add.add_argument("audio", help="reference recording")
    add.add_argument("--text", help="transcript of the recording (else speech recognition)")
    add.add_argument("--model", default=None, help="model whose token table to use (default: as speak)")
    add.add_argument("--force", action="store_true", help="replace a voice of the same name")
    _prompt_args(add)
    add.set_defaults(run=_run_voice_add)
    ls = sub.add_parser("list", help="list saved voices")
    ls.set_defaults(run=_run_voice_list)
    rm = sub.add_parser("rm", help="delete a saved voice")
    rm.add_argument("name")
    rm.set_defaults(run=_run_voice_rm)


def _run_voice_add(args: argparse.Namespace) -> int:
    from .hub import resolve_model
    from .pipeline import encode_voice
    from .text import EmiliaTokenizer
    from .voices import check_name, open_library

    check_name(args.name)
    audio_path = Path(args.audio).expanduser()
    with open_library() as store:
        if not args.force and args.name in store.names():
            raise VoiceExistsError(f"a voice named {args.name!r} already exists; use --force to replace it")
        files = resolve_model(args.model or _default_model())
        prompt = encode_voice(args.audio, EmiliaTokenizer(files.tokens), duration=args.duration, rms=args.rms,
                              text=args.text)
        try:
            audio = audio_path.read_bytes()
        except OSError as e:
            raise InvalidOptionError(f"cannot read the recording {args.audio}: {e}") from None
        record = store.create(args.name, prompt, audio=audio, audio_filename=audio_path.name,
                              transcript=prompt.transcript or "", replace=args.force)
        where = store.location
    print(f"saved voice {args.name!r} ({prompt.duration:.1f} s: {prompt.transcript!r}) as {record.id} in {where}")
    return EXIT_OK


def _run_voice_list(args: argparse.Namespace) -> int:
    from .voices import open_library

    with open_library() as store:
        names = store.names()
        where = store.location
    if not names:
        print(f"no saved voices in {where} (add one with: luxtts voice add NAME REF.wav --text ...)",
              file=sys.stderr)
    for name in names:
        print(name)
    return EXIT_OK


def _run_voice_rm(args: argparse.Namespace) -> int:
    from .voices import remove_voice

    record = remove_voice(args.name)
    print(f"removed voice {record.name!r} ({record.id})")
    return EXIT_OK


# ------------------------------------------------------------------------------------------------ convert


def _configure_convert(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", help="a weight file (.pt/.bin/.ckpt), or a model folder / repo id")
    p.add_argument("dest", help="OUT.safetensors for a file; a new folder for a model")


def _run_convert(args: argparse.Namespace) -> int:
    from .convert import convert

    written = convert(args.source, args.dest)
    for path in written:
        print(path)
    return EXIT_OK


# ------------------------------------------------------------------------------------------------ info


def _configure_info(p: argparse.ArgumentParser) -> None:
    _model_args(p)


def _run_info(args: argparse.Namespace) -> int:
    from .info import report

    for key, value in report(args.model, args.device):
        print(f"{key + ':':<14} {value}")
    return EXIT_OK


register(Command("speak", "speak text in the voice of a reference recording", _configure_speak, _run_speak))
register(Command("voice", "manage saved voices (add, list, rm)", _configure_voice, lambda a: _voice_help()))
register(Command("convert", "rewrite weights as safetensors (a file, or a whole model folder)",
                 _configure_convert, _run_convert))
register(Command("info", "show versions, device, model and saved voices", _configure_info, _run_info))

from .bench import cli as _bench_cli  # noqa: E402 - argparse only; the benchmark itself loads when it runs

register(Command("bench", _bench_cli.HELP, _bench_cli.configure, _bench_cli.run))

from .server import cli as _serve_cli  # noqa: E402 - argparse only; the server loads when it runs

register(Command("serve", _serve_cli.HELP, _serve_cli.configure, _serve_cli.run))


def _voice_help() -> int:
    raise InvalidOptionError("voice needs an action: add, list or rm (see luxtts voice --help)")


if __name__ == "__main__":
    sys.exit(main())
