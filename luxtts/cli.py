"""The ``luxtts`` command: speak, voice add/list/rm, convert, info (and what other modules register).

Thin on purpose: each command lives in its own module (``luxtts.commands.*``, ``luxtts.bench.cli``, ...) with
HELP, configure(parser) and run(args); the work is done by the library, imported only when a command runs.
Errors print one line on stderr (with --debug, the traceback first). Exit codes, the same with or without
--debug: 0 success, 1 a failure (model, audio, files), 2 a bad argument (option values, empty text, unknown
voice, an output that exists or is an input), 130 interrupted.

Commands live in ``COMMANDS``; another module adds one with :func:`register`.
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence

from .commands.common import (
    DEFAULT_MODEL_ENV,
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    SAMPLE_RATES,
    did_you_mean,
)
from .errors import (
    InvalidOptionError,
    LuxTTSError,
    OutputExistsError,
    OutputIsInputError,
    ResumeError,
    TextError,
    TranscriptionUnavailableError,
    VoiceExistsError,
    VoiceNotFoundError,
)

USAGE_ERRORS = (InvalidOptionError, TextError, VoiceNotFoundError, TranscriptionUnavailableError,
                OutputExistsError, OutputIsInputError, ResumeError, VoiceExistsError)
__all__ = ["COMMANDS", "Command", "EXIT_FAILURE", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "main", "register",
           "DEFAULT_MODEL_ENV", "SAMPLE_RATES"]


@dataclass(frozen=True)
class Command:
    """A subcommand: ``configure`` adds its arguments, ``run`` does the work and returns an exit code."""

    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    description: Optional[str] = None


COMMANDS: List[Command] = []


def register(command: Command) -> Command:
    """Add (or replace) a subcommand."""
    COMMANDS[:] = [c for c in COMMANDS if c.name != command.name] + [command]
    return command


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors naming the (sub)command's own help, "did you mean", our exit code."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}{self._hint(message)} (see {self.prog} --help)\n")

    def _hint(self, message: str) -> str:
        if message.startswith("unrecognized arguments: "):
            options = [o for action in self._actions for o in action.option_strings]
            for word in message.split(": ", 1)[1].split():
                if word.startswith("-"):
                    hint = did_you_mean(word.split("=", 1)[0], options)
                    if hint:
                        return hint
        if "invalid choice: " in message:
            # "argument --format: invalid choice: 'aiff' (choose from ...)": suggest from that argument's choices
            name = message.split(":", 1)[0].removeprefix("argument ").split("/")
            word = message.split("invalid choice: ", 1)[1].split(" (choose from", 1)[0].strip("'\"")
            for action in self._actions:
                named = set(action.option_strings) | {action.dest, str(action.metavar)}
                if action.choices is not None and named & set(name):
                    return did_you_mean(word, [str(c) for c in action.choices])
        return ""


class _HelpFormatter(argparse.HelpFormatter):
    """Every option's default in its help line, unless the text already says it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if ("default" not in text and action.default not in (None, False, argparse.SUPPRESS)
                and action.option_strings and not isinstance(action, argparse._HelpAction)):
            text += " (default: %(default)s)"
        return text


# ------------------------------------------------------------------------------------------------ main


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    if extras:
        # The subcommand's parser reports them: its own usage, and its options for "did you mean".
        getattr(args, "_parser", parser).error(f"unrecognized arguments: {' '.join(extras)}")
    debug = bool(getattr(args, "debug", False))
    _setup_logging(debug)
    if not hasattr(args, "run"):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return int(args.run(args) or EXIT_OK)
    except KeyboardInterrupt:
        _traceback(debug)
        print("luxtts: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except LuxTTSError as e:
        _traceback(debug)
        usage = isinstance(e, USAGE_ERRORS)
        where = getattr(args, "_parser", parser).prog
        hint = f" (see {where} --help)" if usage and isinstance(e, InvalidOptionError) and "--help" not in str(e) else ""
        print(f"luxtts: error: {_one_line(e)}{hint}", file=sys.stderr)
        return EXIT_USAGE if usage else EXIT_FAILURE
    except (OSError, RuntimeError, ValueError) as e:
        _traceback(debug)
        more = "" if debug else " (run with --debug for details)"
        print(f"luxtts: error: {type(e).__name__}: {_one_line(e)}{more}", file=sys.stderr)
        return EXIT_FAILURE


def _traceback(debug: bool) -> None:
    if debug:
        import traceback

        traceback.print_exc()


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show debug logs and full tracebacks")
    parser = _Parser(prog="luxtts", description="Zero-shot voice-cloning text to speech (LuxTTS).",
                     parents=[common])
    parser.add_argument("--version", action="version", version=f"luxtts {_version()}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=_Parser)
    for command in COMMANDS:
        p = sub.add_parser(command.name, help=command.help, description=command.description or command.help,
                           parents=[common], formatter_class=_HelpFormatter)
        command.configure(p)
        p.set_defaults(run=command.run, _parser=p)
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


from .commands import convert as _convert_cli, info as _info_cli, speak as _speak_cli, voice as _voice_cli  # noqa: E402

register(Command("speak", _speak_cli.HELP, _speak_cli.configure, _speak_cli.run, _speak_cli.DESCRIPTION))
register(Command("voice", _voice_cli.HELP, _voice_cli.configure, _voice_cli.run, _voice_cli.DESCRIPTION))
register(Command("convert", _convert_cli.HELP, _convert_cli.configure, _convert_cli.run, _convert_cli.DESCRIPTION))
register(Command("info", _info_cli.HELP, _info_cli.configure, _info_cli.run, _info_cli.DESCRIPTION))

from .bench import cli as _bench_cli  # noqa: E402 - argparse only; the benchmark itself loads when it runs

register(Command("bench", _bench_cli.HELP, _bench_cli.configure, _bench_cli.run))

from .server import cli as _serve_cli  # noqa: E402 - argparse only; the server loads when it runs

register(Command("serve", _serve_cli.HELP, _serve_cli.configure, _serve_cli.run))

from .wyoming import cli as _wyoming_cli  # noqa: E402 - argparse only; the Wyoming server loads when it runs

register(Command("wyoming", _wyoming_cli.HELP, _wyoming_cli.configure, _wyoming_cli.run))

from .eval import cli as _eval_cli  # noqa: E402 - argparse only; the evaluation loads when it runs

register(Command("eval", _eval_cli.HELP, _eval_cli.configure, _eval_cli.run))

from .train import cli as _train_cli  # noqa: E402 - argparse only; training code loads when a command runs

register(Command("train", _train_cli.HELP, _train_cli.configure, _train_cli.run))


if __name__ == "__main__":
    sys.exit(main())
