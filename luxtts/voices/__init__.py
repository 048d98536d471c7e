"""The voice library: named voices shared by ``luxtts voice ...``, ``luxtts serve`` and the Python API.

By default a SQLite file, ``<data dir>/voices.db`` (see :mod:`.datadir`); ``open_store("postgresql://...")``
shares one library between server processes. Each voice keeps its encoded prompt (safetensors bytes, with the
token table's fingerprint) and the original upload, so it can be encoded again for another model.

Inside: ``names`` (voice names and ids), ``datadir``, ``records``, ``backends`` (SQLite, PostgreSQL),
``store`` (VoiceStore, the operations), ``library`` (opening it, one-call helpers) and ``resolve`` (what a
typed voice means). Imports go in that order; beyond luxtts.errors, only ``store`` and ``resolve`` import
luxtts.prompt (inside functions, to build prompts), and luxtts.prompt imports nothing of this package.
"""

from __future__ import annotations

from .datadir import data_dir, default_store_path
from .library import (
    URL_ENV,
    library_location,
    list_voices,
    load_voice,
    open_library,
    open_store,
    remove_voice,
    save_voice,
    store_kind,
)
from .names import VOICE_SUFFIX, check_name
from .records import AliasRecord, ConsentRecord, VoiceRecord
from .resolve import find_voice, named_prompt
from .store import VoiceStore

__all__ = [
    "AliasRecord",
    "ConsentRecord",
    "URL_ENV",
    "VOICE_SUFFIX",
    "VoiceRecord",
    "VoiceStore",
    "check_name",
    "data_dir",
    "default_store_path",
    "find_voice",
    "library_location",
    "list_voices",
    "load_voice",
    "named_prompt",
    "open_library",
    "open_store",
    "remove_voice",
    "save_voice",
    "store_kind",
]
