"""``luxtts voice add|list|rm``: saved voices (encoded prompts), usable as ``speak --voice NAME``.

Saved voice files are made readable by their owner only (mode 0600): a voice prompt is enough to speak as
that person, so it is treated like a private key, whatever the umask.
"""

from __future__ import annotations

import argparse
import os
import sys

from ..errors import InvalidOptionError
from . import common
from .common import EXIT_OK

HELP = "manage saved voices (add, list, rm)"
DESCRIPTION = ("Saved voices are reference recordings encoded once and kept under a name in $LUXTTS_HOME/voices "
               "(private files, mode 0600); use them with: luxtts speak ... --voice NAME")


def configure(p: argparse.ArgumentParser) -> None:
    # The actions parse (and report errors) the way their parent does.
    sub = p.add_subparsers(title="voice commands", metavar="ACTION", parser_class=type(p))
    extra = {"formatter_class": p.formatter_class}
    add = sub.add_parser("add", help="encode a reference recording and save it under a name",
                         description="Encode a reference recording once and save it as voice NAME.", **extra)
    add.add_argument("name", help="1-64 letters, digits, '_', '-' or '.'")
    add.add_argument("audio", help="reference recording (wav, flac, mp3, ...)")
    common.add_prompt_args(add)
    common.add_model_args(add, device=False)
    common.add_force(add, "a saved voice of the same name")
    add.set_defaults(run=run_add, _parser=add)
    ls = sub.add_parser("list", help="list saved voices", description="Print the saved voice names, one a line.",
                        **extra)
    ls.set_defaults(run=run_list, _parser=ls)
    rm = sub.add_parser("rm", help="delete a saved voice", description="Delete the saved voice NAME.", **extra)
    rm.add_argument("name", help="a saved voice name (see: luxtts voice list)")
    rm.set_defaults(run=run_rm, _parser=rm)
    for action in (add, ls, rm):  # as on every other command, --debug may come after the action's arguments
        action.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                            help="show debug logs and full tracebacks")


def run(args: argparse.Namespace) -> int:
    raise InvalidOptionError("voice needs an action: add, list or rm (see luxtts voice --help)")


def run_add(args: argparse.Namespace) -> int:
    from ..hub import resolve_model
    from ..pipeline import encode_voice
    from ..text import EmiliaTokenizer
    from ..voices import check_name, save_voice, voice_path

    check_name(args.name)
    path = voice_path(args.name)
    common.check_not_input(path, [("voice recording", args.audio)])
    if path.exists() and not args.force:
        from ..errors import OutputExistsError

        raise OutputExistsError(f"a voice named {args.name!r} already exists ({path}); pass --force to replace it")
    duration, rms = common.prompt_settings(args)
    files = resolve_model(args.model or common.default_model())
    prompt = encode_voice(args.audio, EmiliaTokenizer(files.tokens), duration=duration, rms=rms,
                          text=args.voice_text)
    path = save_voice(args.name, prompt, overwrite=args.force)
    os.chmod(path, 0o600)
    print(f"saved voice {args.name!r} ({prompt.duration:.1f} s: {prompt.transcript!r}) to {path}")
    return EXIT_OK


def run_list(args: argparse.Namespace) -> int:
    from ..voices import list_voices, voices_dir

    names = list_voices()
    if not names:
        print(f"no saved voices in {voices_dir()} (add one with: luxtts voice add NAME REF.wav --voice-text ...)",
              file=sys.stderr)
    for name in names:
        print(name)
    return EXIT_OK


def run_rm(args: argparse.Namespace) -> int:
    from ..errors import VoiceNotFoundError
    from ..voices import list_voices, remove_voice

    try:
        path = remove_voice(args.name)
    except VoiceNotFoundError as e:
        raise VoiceNotFoundError(f"{e}{common.did_you_mean(args.name, list_voices())}") from None
    print(f"removed voice {args.name!r} ({path})")
    return EXIT_OK
