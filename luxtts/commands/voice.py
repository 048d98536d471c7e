"""``luxtts voice add|list|rm|alias|unalias``: the voice library (encoded prompts), usable as ``speak --voice NAME``.

The library (see :mod:`luxtts.voices`) is readable by its owner only (mode 0600): a voice prompt is enough to
speak as that person, so it is treated like a private key, whatever the umask.
"""

from __future__ import annotations

import argparse
import sys

from ..errors import InvalidOptionError
from . import common
from .common import EXIT_OK

HELP = "manage saved voices (add, list, rm, alias, unalias)"
DESCRIPTION = ("Saved voices are reference recordings encoded once and kept under a name in the voice library "
               "($LUXTTS_VOICES_DB, else $LUXTTS_HOME/voices.db; private, mode 0600), shared with luxtts serve; "
               "use them with: luxtts speak ... --voice NAME")


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
    alias = sub.add_parser("alias", help="give a saved voice another name (e.g. one of OpenAI's voices)",
                           description="Let ALIAS name the saved voice VOICE: a request for ALIAS (e.g. alloy, "
                                       "the voice OpenAI's clients ask for by default) speaks in VOICE. A saved "
                                       "voice's own name always wins over an alias.", **extra)
    alias.add_argument("alias", help="the other name, e.g. alloy or ash")
    alias.add_argument("voice", help="a saved voice name or id (see: luxtts voice list)")
    alias.set_defaults(run=run_alias, _parser=alias)
    unalias = sub.add_parser("unalias", help="remove an alias", description="Remove the alias ALIAS.", **extra)
    unalias.add_argument("alias", help="an alias (see: luxtts voice list)")
    unalias.set_defaults(run=run_unalias, _parser=unalias)
    for action in (add, ls, rm, alias, unalias):  # as on every command, --debug may come after the arguments
        action.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                            help="show debug logs and full tracebacks")


def run(args: argparse.Namespace) -> int:
    raise InvalidOptionError("voice needs an action: add, list, rm, alias or unalias (see luxtts voice --help)")


def run_add(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..errors import OutputExistsError
    from ..hub import resolve_model
    from ..pipeline import encode_voice
    from ..text import EmiliaTokenizer
    from ..voices import check_name, open_library

    check_name(args.name)
    duration, rms = common.prompt_settings(args)
    audio_path = Path(args.audio).expanduser()
    with open_library() as store:
        if args.name in store.names() and not args.force:
            raise OutputExistsError(f"a voice named {args.name!r} already exists in {store.location}; "
                                    "pass --force to replace it")
        files = resolve_model(args.model or common.default_model())
        prompt = encode_voice(args.audio, EmiliaTokenizer(files.tokens), duration=duration, rms=rms,
                              text=args.voice_text)
        try:
            audio = audio_path.read_bytes()
        except OSError as e:
            raise InvalidOptionError(f"cannot read the recording {args.audio}: {e.strerror or e}") from None
        record = store.create(args.name, prompt, audio=audio, audio_filename=audio_path.name,
                              transcript=prompt.transcript or "", replace=args.force)
        where = store.location
    print(f"saved voice {args.name!r} ({prompt.duration:.1f} s: {prompt.transcript!r}) as {record.id} in {where}")
    return EXIT_OK


def run_list(args: argparse.Namespace) -> int:
    from ..voices import open_library

    with open_library() as store:
        names = store.names()
        aliases = store.aliases()
        where = store.location
    if not names:
        print(f"no saved voices in {where} (add one with: luxtts voice add NAME REF.wav --voice-text ...)",
              file=sys.stderr)
    for name in names:
        also = [a.alias for a in aliases if a.voice_name == name]
        print(f"{name}  (aliases: {', '.join(also)})" if also else name)
    return EXIT_OK


def run_alias(args: argparse.Namespace) -> int:
    from ..voices import open_library

    with open_library() as store:
        record = store.set_alias(args.alias, args.voice)
    print(f"alias {record.alias!r} now names voice {record.voice_name!r} ({record.voice_id})")
    return EXIT_OK


def run_unalias(args: argparse.Namespace) -> int:
    from ..voices import open_library

    with open_library() as store:
        record = store.remove_alias(args.alias)
    print(f"removed alias {record.alias!r} (of voice {record.voice_name!r})")
    return EXIT_OK


def run_rm(args: argparse.Namespace) -> int:
    from ..voices import remove_voice

    record = remove_voice(args.name)  # an unknown name raises VoiceNotFoundError with a "did you mean"
    print(f"removed voice {record.name!r} ({record.id})")
    return EXIT_OK
