"""Named voices, kept in the voice library (:mod:`luxtts.store`): by default ``<data dir>/voices.db``.

Older luxtts kept them as ``<data dir>/voices/<name>.safetensors`` files; those are imported into the library
the first time it is opened, and left in place.

The data dir is ``$LUXTTS_HOME`` if set, else the platform's user data folder: ``$XDG_DATA_HOME/luxtts``
(default ``~/.local/share/luxtts``) on Linux, ``~/Library/Application Support/luxtts`` on macOS,
``%APPDATA%\\luxtts`` on Windows.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, List, Optional

from .errors import InvalidOptionError, VoiceNotFoundError

if TYPE_CHECKING:
    from .prompt import VoicePrompt
    from .store import VoiceRecord, VoiceStore

VOICE_SUFFIX = ".safetensors"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")
_ID_LIKE = re.compile(r"voice_[0-9a-f]{32}\Z")


def data_dir() -> Path:
    """Where luxtts keeps user data (voices); not created here."""
    home = os.environ.get("LUXTTS_HOME")
    if home:
        return Path(home).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "luxtts"


def voices_dir() -> Path:
    """Where older luxtts saved voice files (read once, to import them into the library)."""
    return data_dir() / "voices"


def check_name(name: str) -> str:
    """Return ``name`` if it can name a voice, else raise InvalidOptionError saying what is wrong.

    Names never become paths, but they are shown in listings, URLs and messages: 1-64 letters, digits, '_',
    '-' or '.', starting with a letter or digit, and not shaped like a voice id.
    """
    rule = "use 1-64 letters, digits, '_', '-' or '.', starting with a letter or digit"
    if not isinstance(name, str):
        raise InvalidOptionError(f"a voice name must be a string, got {type(name).__name__}")
    if _NAME.match(name) and not name.endswith(VOICE_SUFFIX) and not _ID_LIKE.match(name):
        return name
    shown = repr(name) if len(name) <= 64 else f"{name[:32]!r}... ({len(name)} characters)"
    if len(name) > 64:
        why = f"it is {len(name)} characters long"
    elif "\x00" in name:
        why = "it contains a NUL character"
    elif any(ord(c) < 32 or ord(c) == 127 for c in name):
        why = "it contains a control character"
    elif "/" in name or "\\" in name:
        why = "it contains a path separator"
    elif _ID_LIKE.match(name):
        why = "it looks like a voice id (voice_ and 32 hex digits)"
    elif name.endswith(VOICE_SUFFIX):
        why = f"it ends in {VOICE_SUFFIX}"
    else:
        why = None
    raise InvalidOptionError(f"voice name {shown} is not allowed: {why + '; ' if why else ''}{rule}")


def voice_path(name: str) -> Path:
    """Where older luxtts kept the voice ``name`` as a file (imported into the library on first use)."""
    return voices_dir() / f"{check_name(name)}{VOICE_SUFFIX}"


def open_library(url: Optional[str] = None) -> "VoiceStore":
    """The voice library (see :func:`luxtts.store.open_store`): ``$LUXTTS_VOICES_DB``, else a SQLite file in
    :func:`data_dir`."""
    from .store import open_store

    return open_store(url)


def library_location(url: Optional[str] = None) -> str:
    with open_library(url) as store:
        return store.location


def list_voices(url: Optional[str] = None) -> List[str]:
    """Names of the saved voices, sorted."""
    with open_library(url) as store:
        return store.names()


def save_voice(name: str, prompt: "VoicePrompt", overwrite: bool = False, *, audio: Optional[bytes] = None,
               audio_filename: Optional[str] = None, transcript: Optional[str] = None,
               url: Optional[str] = None) -> "VoiceRecord":
    """Store ``prompt`` under ``name`` in the voice library, with the recording it was encoded from (``audio``:
    the file's bytes; read from ``prompt.source`` when not given and that file exists). An existing name raises
    VoiceExistsError unless ``overwrite=True``."""
    check_name(name)
    if audio is None:
        audio, audio_filename = _source_audio(prompt, audio_filename)
    with open_library(url) as store:
        return store.create(name, prompt, audio=audio, audio_filename=audio_filename or "",
                            transcript=transcript if transcript is not None else (prompt.transcript or ""),
                            replace=overwrite)


def _source_audio(prompt: "VoicePrompt", filename: Optional[str]):
    source = Path(prompt.source) if prompt.source else None
    if source is None or not source.is_file():
        raise InvalidOptionError(
            "save_voice needs the original recording (audio=bytes of the file): the prompt's source "
            f"{prompt.source!r} is not a readable file"
        )
    return source.read_bytes(), filename or source.name


def load_voice(name: str, url: Optional[str] = None) -> "VoicePrompt":
    """The encoded prompt of the saved voice ``name`` (or id)."""
    with open_library(url) as store:
        return store.load_prompt(name)


def remove_voice(name: str, url: Optional[str] = None) -> "VoiceRecord":
    """Delete the saved voice ``name`` (or id) from the library; returns what was deleted."""
    with open_library(url) as store:
        return store.delete(name)


def find_voice(value: str, url: Optional[str] = None) -> "Path | VoicePrompt":
    """What ``--voice VALUE`` names: an existing audio file (its Path), a voice file, or a saved voice name or
    id (the loaded VoicePrompt). Raises VoiceNotFoundError for anything else."""
    from .prompt import VoicePrompt

    path = Path(value).expanduser()
    if path.is_file():
        return VoicePrompt.load(path) if path.suffix == VOICE_SUFFIX else path
    if path.is_dir():
        raise InvalidOptionError(f"voice {value!r} is a folder; give an audio file or a saved voice name")
    try:
        check_name(value)
    except InvalidOptionError:
        if not _ID_LIKE.match(value):
            raise VoiceNotFoundError(f"voice {value!r} is neither an audio file nor a saved voice name") from None
    with open_library(url) as store:
        try:
            return store.load_prompt(value)
        except VoiceNotFoundError as e:
            raise VoiceNotFoundError(f"voice {value!r} is neither an audio file nor a saved voice: {e}") from None
