"""Opening the voice library, and the one-call helpers over it (list, save, load, remove).

``open_store()`` opens a SQLite file under the data dir (stdlib only); ``open_store("postgresql://...")`` a
PostgreSQL database (the ``[server]`` extra's psycopg), so that several server processes share one library.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, List, Optional

from ..errors import InvalidOptionError
from .backends import SQLiteBackend, backend_for, parse_url
from .datadir import default_store_path
from .names import check_name
from .records import VoiceRecord
from .store import VoiceStore

if TYPE_CHECKING:
    from ..prompt import VoicePrompt

URL_ENV = "LUXTTS_VOICES_DB"


def store_kind(url: Optional[str] = None) -> str:
    """``"sqlite"`` or ``"postgresql"``: what :func:`open_store` would open for ``url``, without opening it
    (e.g. to refuse a SQLite library shared by servers on several machines)."""
    url = url if url is not None else (os.environ.get(URL_ENV) or None)
    return "sqlite" if url is None else parse_url(url)[0]


def open_store(url: Optional[str] = None) -> VoiceStore:
    """Open (creating if needed) the voice library at ``url``.

    url: ``None`` for ``$LUXTTS_VOICES_DB`` if set, else the SQLite file :func:`default_store_path`;
    ``sqlite:///abs/path.db``, ``sqlite:rel/path.db`` or a plain file path for another SQLite file;
    ``postgresql://user:password@host:port/db`` for PostgreSQL.
    """
    if url is None:
        url = os.environ.get(URL_ENV) or None
    if url is None:
        _private_dir(default_store_path().parent)
        backend = SQLiteBackend(default_store_path())
    else:
        backend = backend_for(url)
    backend.init_schema()
    return VoiceStore(backend)


def _private_dir(folder: Path) -> None:
    # the data dir holds people's voices: created owner-only, an existing one is left as the user set it
    if not folder.exists():
        folder.mkdir(parents=True, mode=0o700, exist_ok=True)


# The CLI's and the Python API's name for the same thing.
open_library = open_store


def library_location(url: Optional[str] = None) -> str:
    with open_store(url) as store:
        return store.location


def list_voices(url: Optional[str] = None) -> List[str]:
    """Names of the saved voices, sorted."""
    with open_store(url) as store:
        return store.names()


def save_voice(name: str, prompt: "VoicePrompt", overwrite: bool = False, *, audio: Optional[bytes] = None,
               audio_filename: Optional[str] = None, transcript: Optional[str] = None,
               url: Optional[str] = None) -> VoiceRecord:
    """Store ``prompt`` under ``name`` in the voice library, with the recording it was encoded from (``audio``:
    the file's bytes; read from ``prompt.source`` when not given and that file exists). An existing name raises
    VoiceExistsError unless ``overwrite=True``."""
    check_name(name)
    if audio is None:
        audio, audio_filename = _source_audio(prompt, audio_filename)
    with open_store(url) as store:
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
    with open_store(url) as store:
        return store.load_prompt(name)


def remove_voice(name: str, url: Optional[str] = None) -> VoiceRecord:
    """Delete the saved voice ``name`` (or id) from the library; returns what was deleted."""
    with open_store(url) as store:
        return store.delete(name)
