"""Where luxtts keeps user data: ``$LUXTTS_HOME`` if set, else the platform's user data folder:
``$XDG_DATA_HOME/luxtts`` (default ``~/.local/share/luxtts``) on Linux, ``~/Library/Application Support/luxtts``
on macOS, ``%APPDATA%\\luxtts`` on Windows. The default voice library is ``voices.db`` in it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

DB_NAME = "voices.db"


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


def default_store_path() -> Path:
    """The SQLite file used when no URL is given: ``<data dir>/voices.db``."""
    return data_dir() / DB_NAME
