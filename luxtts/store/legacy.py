"""Voices saved by earlier luxtts as ``<data dir>/voices/<name>.safetensors`` files, imported into the library.

The files are kept; each one is marked by name and content hash once looked at, so a voice deleted from the
library does not come back on the next start.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import List

from ..errors import LuxTTSError, VoiceExistsError
from .records import VoiceRecord, new_id, VOICE_ID_PREFIX
from .store import VoiceStore

SUFFIX = ".safetensors"
log = logging.getLogger("luxtts")


def import_voice_files(store: VoiceStore, folder: Path) -> List[VoiceRecord]:
    """Import the voice files of ``folder`` not yet looked at; returns the voices added."""
    try:
        files = sorted(p for p in folder.glob(f"*{SUFFIX}") if p.is_file()) if folder.is_dir() else []
    except OSError as e:
        log.warning("cannot look for saved voice files in %s: %s", folder, e)
        return []
    if not files:
        return []
    marks = store._imported_marks()
    added = []
    for path in files:
        try:
            data = path.read_bytes()
            mtime = int(path.stat().st_mtime)
        except OSError as e:
            log.warning("cannot read the saved voice %s (left for the next start): %s", path, e)
            continue
        mark = (path.name, hashlib.sha256(data).hexdigest())
        if mark in marks:
            continue
        record = _import_one(store, path, data, mtime, mark)
        if record is not None:
            added.append(record)
    return added


def _import_one(store: VoiceStore, path: Path, data: bytes, mtime: int, mark: tuple):
    from ..prompt import VoicePrompt
    from ..voices import check_name

    name = path.name[: -len(SUFFIX)]
    try:
        check_name(name)
        prompt = VoicePrompt.from_bytes(data, where=str(path))
    except LuxTTSError as e:
        log.warning("not importing %s into the voice library: %s", path, e)
        store._mark_imported(*mark, note=f"unreadable: {e}")
        return None
    record = VoiceRecord(id=new_id(VOICE_ID_PREFIX), name=name, created_at=mtime, transcript=prompt.transcript or "",
                         consent_id=None, audio_filename="", vocab_sha256=prompt.vocab_sha256,
                         imported_from=str(path))
    try:
        if not store._insert(record, b"", data, imported=mark):
            return None
    except VoiceExistsError:
        log.warning("not importing %s: the voice library already has a voice named %r", path, name)
        store._mark_imported(*mark, note="name already taken")
        return None
    log.info("imported the saved voice %s into the voice library %s", path, store.location)
    return record
