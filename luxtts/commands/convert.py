"""``luxtts convert``: torch weights -> safetensors, a file or a whole model folder."""

from __future__ import annotations

import argparse

from . import common
from .common import EXIT_OK

HELP = "rewrite weights as safetensors (a file, or a whole model folder)"
DESCRIPTION = ("Rewrite torch weights as safetensors without executing them: SOURCE.pt -> DEST.safetensors, or a "
               "model folder / Hugging Face repo id -> a folder DEST in the safetensors layout. Written files follow "
               "the umask, like any new file.")


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", help="a weight file (.pt/.pth/.bin/.ckpt), or a model folder / repo id")
    p.add_argument("dest", help="OUT.safetensors for a file; a new (or empty) folder for a model")
    common.add_force(p, "an existing destination file, or the files of a non-empty destination folder")


def run(args: argparse.Namespace) -> int:
    from ..convert import convert
    from ..errors import ModelNotFoundError

    try:
        written = convert(args.source, args.dest, force=args.force)
    except ModelNotFoundError as e:
        # The library's message suggests --model, which convert does not take: point at SOURCE instead.
        reason = str(e).split(". Download it once", 1)[0]
        raise ModelNotFoundError(f"{reason}. Download it once with network access, or give a local model folder "
                                 f"as SOURCE: luxtts convert /path/to/folder {args.dest}") from None
    for path in written:
        print(path)
    return EXIT_OK
