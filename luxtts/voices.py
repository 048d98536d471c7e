"""Named voices: encoded prompts kept as ``<data dir>/voices/<name>.safetensors``.

The data dir is ``$LUXTTS_HOME`` if set, else the platform's user data folder: ``$XDG_DATA_HOME/luxtts``
(default ``~/.local/share/luxtts``) on Linux, ``~/Library/Application Support/luxtts`` on macOS,
``%APPDATA%\\luxtts`` on Windows.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, List

from .errors import InvalidOptionError, VoiceNotFoundError

if TYPE_CHECKING:
    from .prompt import VoicePrompt

VOICE_SUFFIX = ".safetensors"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


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
    return data_dir() / "voices"


def check_name(name: str) -> str:
    """Return ``name`` if it can name a voice, else raise InvalidOptionError."""
    if not isinstance(name, str) or not _NAME.match(name) or name.endswith(VOICE_SUFFIX):
        raise InvalidOptionError(
            f"voice name {name!r} is not allowed: use 1-64 letters, digits, '_', '-' or '.', starting with a "
            "letter or digit"
        )
    return name


def voice_path(name: str) -> Path:
    return voices_dir() / f"{check_name(name)}{VOICE_SUFFIX}"


def list_voices() -> List[str]:
    """Names of the saved voices, sorted."""
    folder = voices_dir()
    if not folder.is_dir():
        return []
    return sorted(p.name[: -len(VOICE_SUFFIX)] for p in folder.glob(f"*{VOICE_SUFFIX}") if p.is_file())


def save_voice(name: str, prompt: "VoicePrompt", overwrite: bool = False) -> Path:
    """Store ``prompt`` under ``name``; an existing name needs ``overwrite=True``."""
    path = voice_path(name)
    if path.exists() and not overwrite:
        raise InvalidOptionError(f"a voice named {name!r} already exists ({path}); remove it first or overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True)
    return prompt.save(path)


def load_voice(name: str) -> "VoicePrompt":
    from .prompt import VoicePrompt

    path = voice_path(name)
    if not path.is_file():
        raise VoiceNotFoundError(_missing(name))
    return VoicePrompt.load(path)


def remove_voice(name: str) -> Path:
    path = voice_path(name)
    if not path.is_file():
        raise VoiceNotFoundError(_missing(name))
    path.unlink()
    return path


def _missing(name: str) -> str:
    return f"no saved voice named {name!r} in {voices_dir()}; saved voices: {_listing()}"


def _listing() -> str:
    known = list_voices()
    return ", ".join(known) if known else "none yet (add one with `luxtts voice add NAME REF.wav`)"


def find_voice(value: str) -> "Path | VoicePrompt":
    """What ``--voice VALUE`` names: an existing audio file (its Path), a saved voice file, or a saved voice
    name (the loaded VoicePrompt). Raises VoiceNotFoundError for anything else."""
    from .prompt import VoicePrompt

    path = Path(value).expanduser()
    if path.is_file():
        return VoicePrompt.load(path) if path.suffix == VOICE_SUFFIX else path
    if path.is_dir():
        raise InvalidOptionError(f"voice {value!r} is a folder; give an audio file or a saved voice name")
    if _NAME.match(value) and voice_path(value).is_file():
        return load_voice(value)
    raise VoiceNotFoundError(f"voice {value!r} is neither an audio file nor a saved voice; saved voices: {_listing()}")
