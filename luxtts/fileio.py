"""Files and folders that readers see whole or not at all: built beside the target, then renamed over it."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from pathlib import Path
from typing import Iterator, Union

PathLike = Union[str, os.PathLike]


@contextlib.contextmanager
def replaced_atomically(target: PathLike, *, folder: bool = False, sync: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``target`` (an empty folder with ``folder=True``) for the caller to fill.

    On a normal exit it replaces ``target``; on an exception (Ctrl-C included) it is deleted and ``target`` is
    left as it was. ``sync``: flush it to disk before the rename, for state that must survive a power cut.
    A folder target is removed just before the rename (a folder cannot be renamed over a non-empty one).
    """
    target = Path(target)
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    if folder:
        tmp.mkdir()
    try:
        yield tmp
        if sync:
            _fsync(tmp)
        if folder and target.is_dir():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()


def write_text_atomically(target: PathLike, text: str, *, sync: bool = False) -> None:
    """Replace ``target`` with ``text`` (UTF-8) all at once."""
    with replaced_atomically(target, sync=sync) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _fsync(path: Path) -> None:
    paths = [path, *sorted(path.rglob("*"))] if path.is_dir() else [path]
    for p in paths:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
