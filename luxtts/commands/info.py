"""``luxtts info``: versions, device, the model speak would use, saved voices."""

from __future__ import annotations

import argparse

from . import common
from .common import EXIT_OK

HELP = "show versions, device, model and saved voices"
DESCRIPTION = ("Show versions, the device, the model `luxtts speak` would use (--model, else $LUXTTS_MODEL, else "
               "YatharthS/LuxTTS; an unnamed model is only reported if already available) and saved voices.")


def configure(p: argparse.ArgumentParser) -> None:
    common.add_model_args(p)


def run(args: argparse.Namespace) -> int:
    from ..devices import resolve_device, resolve_dtype
    from ..info import report

    resolve_device(args.device)
    resolve_dtype(args.dtype)
    for key, value in report(args.model or common.default_model(), args.device, fetch=args.model is not None):
        print(f"{key + ':':<14} {value}")
    return EXIT_OK
