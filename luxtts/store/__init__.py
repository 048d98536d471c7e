"""The voice library: one store of named voices shared by ``luxtts voice ...`` and ``luxtts serve``.

``open_store()`` opens a SQLite file under the data dir (stdlib only); ``open_store("postgresql://...")`` a
PostgreSQL database (the ``[server]`` extra's psycopg), so that several server processes share one library.
Each voice keeps its encoded prompt (safetensors bytes, with the token table's fingerprint) and the original
upload, so it can be encoded again for another model.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from .backends import SQLiteBackend, backend_for, parse_url
from .records import AliasRecord, ConsentRecord, VoiceRecord
from .store import VoiceStore

__all__ = ["open_store", "store_kind", "default_store_path", "VoiceStore", "VoiceRecord", "ConsentRecord", "AliasRecord",
           "URL_ENV"]

URL_ENV = "LUXTTS_VOICES_DB"
DB_NAME = "voices.db"


def default_store_path() -> Path:
    """The SQLite file used when no URL is given: ``<data dir>/voices.db``."""
    from ..voices import data_dir

    return data_dir() / DB_NAME


def store_kind(url: Optional[str] = None) -> str:
    """``"sqlite"`` or ``"postgresql"``: what :func:`open_store` would open for ``url``, without opening it
    (e.g. to refuse a SQLite library shared by servers on several machines)."""
    url = url if url is not None else (os.environ.get(URL_ENV) or None)
    return "sqlite" if url is None else parse_url(url)[0]


def open_store(url: Optional[str] = None, *, import_files: Optional[bool] = None) -> VoiceStore:
    """Open (creating if needed) the voice library at ``url``.

    url: ``None`` for ``$LUXTTS_VOICES_DB`` if set, else the SQLite file :func:`default_store_path`;
    ``sqlite:///abs/path.db``, ``sqlite:rel/path.db`` or a plain file path for another SQLite file;
    ``postgresql://user:password@host:port/db`` for PostgreSQL.
    import_files: import the voice files older luxtts saved in ``<data dir>/voices`` (default: only for the
    default SQLite file).
    """
    if url is None:
        url = os.environ.get(URL_ENV) or None
    default = url is None
    if default:
        _private_dir(default_store_path().parent)
        backend = SQLiteBackend(default_store_path())
    else:
        backend = backend_for(url)
    backend.init_schema()
    store = VoiceStore(backend)
    if import_files if import_files is not None else default:
        from ..voices import voices_dir
        from .legacy import import_voice_files

        try:
            import_voice_files(store, voices_dir())
        except BaseException:
            store.close()
            raise
    return store


def _private_dir(folder: Path) -> None:
    # the data dir holds people's voices: created owner-only, an existing one is left as the user set it
    if not folder.exists():
        folder.mkdir(parents=True, mode=0o700, exist_ok=True)
