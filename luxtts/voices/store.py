"""VoiceStore: the voice library's operations, the same on SQLite and PostgreSQL.

Every change is one transaction: a voice row carries its encoded prompt and its original upload together, so
a process killed mid-creation leaves the voice whole or absent, and the name's UNIQUE constraint decides which
of two concurrent creations wins.
"""

from __future__ import annotations

import difflib
import time
from dataclasses import replace
from typing import TYPE_CHECKING, List, Optional, Sequence, Tuple

from ..errors import (
    AliasNotFoundError,
    ConsentNotFoundError,
    InvalidOptionError,
    VoiceExistsError,
    VoiceNotFoundError,
)
from .backends import Backend
from .names import CONSENT_ID_PREFIX, VOICE_ID_PREFIX, check_name, looks_like_id, new_id
from .records import (
    MAX_CONSENT_NAME,
    MAX_TRANSCRIPT,
    AliasRecord,
    ConsentRecord,
    VoiceRecord,
    check_audio,
    check_filename,
    check_language,
    check_text,
    short,
)

if TYPE_CHECKING:
    from ..prompt import VoicePrompt

_VOICE_COLUMNS = "id, name, created_at, transcript, consent_id, audio_filename, vocab_sha256, imported_from"
_CONSENT_COLUMNS = "id, name, language, created_at, audio_filename"
_ALIAS_COLUMNS = "a.alias, a.voice_id, v.name, a.created_at"
_ALIASES = "luxtts_aliases a JOIN luxtts_voices v ON v.id = a.voice_id"  # an alias with the voice it names
_LISTED = 10


class VoiceStore:
    """The voice library. Safe to share between threads; open one per process (see :func:`open_store`)."""

    def __init__(self, backend: Backend) -> None:
        self._db = backend

    @property
    def kind(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._db.kind

    @property
    def location(self) -> str:
        """The SQLite file, or the PostgreSQL URL without its password."""
        return self._db.location

    def __repr__(self) -> str:
        return f"VoiceStore({self.kind}: {self.location})"

    def __enter__(self) -> "VoiceStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    # ------------------------------------------------------------------------------------------- voices

    def create(self, name: str, prompt: "VoicePrompt", *, audio: bytes, audio_filename: str, transcript: str,
               consent_id: Optional[str] = None, replace: bool = False) -> VoiceRecord:
        """Add a voice: its encoded prompt and the original recording, in one transaction.

        Raises VoiceExistsError if ``name`` is taken (unless ``replace``), ConsentNotFoundError for an unknown
        ``consent_id``, InvalidOptionError for a bad name or argument.
        """
        from ..prompt import VoicePrompt

        check_name(name)
        if not isinstance(prompt, VoicePrompt):
            raise InvalidOptionError(f"prompt must be a VoicePrompt (from encode_prompt), got {type(prompt).__name__}")
        audio = check_audio(audio, "the voice's audio")
        audio_filename = check_filename(audio_filename, "audio_filename")
        transcript = check_text(transcript, "transcript", MAX_TRANSCRIPT)
        if consent_id is not None and not isinstance(consent_id, str):
            raise InvalidOptionError(f"consent_id must be a string, got {type(consent_id).__name__}")
        record = VoiceRecord(id=new_id(VOICE_ID_PREFIX), name=name, created_at=int(time.time()),
                             transcript=transcript, consent_id=consent_id, audio_filename=audio_filename,
                             vocab_sha256=prompt.vocab_sha256)
        self._insert(record, audio, prompt.to_bytes(), replace=replace)
        return record

    def _insert(self, record: VoiceRecord, audio: bytes, prompt_bytes: bytes, replace: bool = False) -> None:
        with self._db.transaction(write=True) as tx:
            if record.consent_id is not None and not tx.one("SELECT 1 FROM luxtts_consents WHERE id = ?",
                                                            (record.consent_id,)):
                raise ConsentNotFoundError(f"no voice consent with id {short(record.consent_id)} in {self.location}")
            replaced = tx.one("SELECT id FROM luxtts_voices WHERE name = ?", (record.name,))
            if replaced and not replace:
                raise VoiceExistsError(self._exists(record.name))
            if replaced:
                tx.run("DELETE FROM luxtts_voices WHERE id = ?", replaced)
                # the name's aliases go on naming it
                tx.run("UPDATE luxtts_aliases SET voice_id = ? WHERE voice_id = ?", (record.id, replaced[0]))
            try:
                tx.run(f"INSERT INTO luxtts_voices ({_VOICE_COLUMNS}, audio, prompt) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (*_voice_values(record), audio, prompt_bytes))
            except Exception as e:
                if self._db.is_unique_violation(e):
                    # another process inserted this name between our check and our insert
                    raise VoiceExistsError(self._exists(record.name)) from None
                raise

    def _exists(self, name: str) -> str:
        return f"a voice named {name!r} already exists in {self.location}; delete it first or choose another name"

    def get(self, name_or_id: str) -> VoiceRecord:
        """The voice with this name or id; VoiceNotFoundError (with close names) if there is none."""
        key = self._key(name_or_id)
        with self._db.transaction() as tx:
            row = tx.one(f"SELECT {_VOICE_COLUMNS} FROM luxtts_voices WHERE id = ? OR name = ?", (key, key))
        if row is None:
            raise VoiceNotFoundError(self._missing(key))
        return VoiceRecord(*row)

    def load_prompt(self, name_or_id: str) -> "VoicePrompt":
        """The voice's encoded prompt, exactly as it was stored."""
        from ..prompt import VoicePrompt

        name, data = self._blob(name_or_id, "prompt")
        return VoicePrompt.from_bytes(data, where=f"voice {name!r} in {self.location}")

    def original_audio(self, name_or_id: str) -> bytes:
        """The recording the voice was made from, byte for byte as uploaded."""
        key = self._key(name_or_id)
        with self._db.transaction() as tx:
            row = tx.one("SELECT name, audio, imported_from FROM luxtts_voices WHERE id = ? OR name = ?", (key, key))
        if row is None:
            raise VoiceNotFoundError(self._missing(key))
        if row[2] is not None:
            raise VoiceNotFoundError(
                f"voice {row[0]!r} has no original recording: it was imported from {row[2]}, saved by a luxtts "
                "that kept only the encoded prompt"
            )
        return bytes(row[1])

    def _blob(self, name_or_id: str, column: str) -> Tuple[str, bytes]:
        key = self._key(name_or_id)
        with self._db.transaction() as tx:
            row = tx.one(f"SELECT name, {column} FROM luxtts_voices WHERE id = ? OR name = ?", (key, key))
        if row is None:
            raise VoiceNotFoundError(self._missing(key))
        return row[0], bytes(row[1])

    def list(self) -> List[VoiceRecord]:
        """Every voice, oldest first."""
        with self._db.transaction() as tx:
            rows = tx.rows(f"SELECT {_VOICE_COLUMNS} FROM luxtts_voices ORDER BY created_at, name")
        return [VoiceRecord(*row) for row in rows]

    def names(self) -> List[str]:
        with self._db.transaction() as tx:
            return sorted(r[0] for r in tx.rows("SELECT name FROM luxtts_voices"))

    def delete(self, name_or_id: str) -> VoiceRecord:
        """Remove a voice (prompt and recording); returns what was removed."""
        key = self._key(name_or_id)
        with self._db.transaction(write=True) as tx:
            row = tx.one(f"SELECT {_VOICE_COLUMNS} FROM luxtts_voices WHERE id = ? OR name = ?", (key, key))
            if row is not None:
                tx.run("DELETE FROM luxtts_aliases WHERE voice_id = ?", (row[0],))
                tx.run("DELETE FROM luxtts_voices WHERE id = ?", (row[0],))
        if row is None:
            raise VoiceNotFoundError(self._missing(key))
        return VoiceRecord(*row)

    def update_prompt(self, name_or_id: str, prompt: "VoicePrompt") -> VoiceRecord:
        """Replace a voice's encoded prompt (e.g. encoded again from :meth:`original_audio` for a model with
        another token table), keeping its name, id and recording."""
        from ..prompt import VoicePrompt

        if not isinstance(prompt, VoicePrompt):
            raise InvalidOptionError(f"prompt must be a VoicePrompt (from encode_prompt), got {type(prompt).__name__}")
        key = self._key(name_or_id)
        data = prompt.to_bytes()
        with self._db.transaction(write=True) as tx:
            row = tx.one(f"SELECT {_VOICE_COLUMNS} FROM luxtts_voices WHERE id = ? OR name = ?", (key, key))
            if row is not None:
                tx.run("UPDATE luxtts_voices SET prompt = ?, vocab_sha256 = ? WHERE id = ?",
                       (data, prompt.vocab_sha256, row[0]))
        if row is None:
            raise VoiceNotFoundError(self._missing(key))
        return replace(VoiceRecord(*row), vocab_sha256=prompt.vocab_sha256)

    def _key(self, name_or_id: object) -> str:
        if not isinstance(name_or_id, str):
            raise InvalidOptionError(f"a voice is named by a string (its name or id), got {type(name_or_id).__name__}")
        return name_or_id if looks_like_id(name_or_id) else check_name(name_or_id)

    def _missing(self, key: str) -> str:
        names = self.names()
        message = f"no saved voice named {key!r} in {self.location}"
        close = difflib.get_close_matches(key, names, n=3, cutoff=0.6)
        if close:
            return f"{message}; did you mean {' or '.join(repr(n) for n in close)}?"
        if not names:
            return f"{message}; the library is empty (add a voice with `luxtts voice add NAME REF.wav`)"
        listed = ", ".join(names[:_LISTED]) + (f" and {len(names) - _LISTED} more" if len(names) > _LISTED else "")
        return f"{message}; saved voices: {listed}"

    # ------------------------------------------------------------------------------------------- aliases

    def set_alias(self, alias: str, voice: str) -> AliasRecord:
        """Let ``alias`` name the voice ``voice`` (a name or id), replacing what it named before.

        VoiceExistsError if ``alias`` is a voice's own name (which would always win), VoiceNotFoundError for an
        unknown ``voice``, InvalidOptionError for an alias that could not be a voice name.
        """
        check_name(alias)
        key = self._key(voice)
        with self._db.transaction(write=True) as tx:
            if tx.one("SELECT 1 FROM luxtts_voices WHERE name = ?", (alias,)):
                raise VoiceExistsError(f"{alias!r} is the name of a voice in {self.location}, which always means "
                                       "that voice: an alias of that name would never be used")
            row = tx.one("SELECT id, name FROM luxtts_voices WHERE id = ? OR name = ?", (key, key))
            if row is None:
                raise VoiceNotFoundError(self._missing(key))
            created = int(time.time())
            tx.run("INSERT INTO luxtts_aliases (alias, voice_id, created_at) VALUES (?, ?, ?) ON CONFLICT (alias) "
                   "DO UPDATE SET voice_id = excluded.voice_id, created_at = excluded.created_at",
                   (alias, row[0], created))
        return AliasRecord(alias, row[0], row[1], created)

    def remove_alias(self, alias: str) -> AliasRecord:
        """Remove ``alias``; returns what it named. AliasNotFoundError if there is no such alias."""
        if not isinstance(alias, str):
            raise InvalidOptionError(f"an alias is a string, got {type(alias).__name__}")
        with self._db.transaction(write=True) as tx:
            row = tx.one(f"SELECT {_ALIAS_COLUMNS} FROM {_ALIASES} WHERE a.alias = ?", (alias,))
            tx.run("DELETE FROM luxtts_aliases WHERE alias = ?", (alias,))
        if row is None:
            known = ", ".join(a.alias for a in self.aliases()) or "none"
            raise AliasNotFoundError(f"no alias {short(alias)} in {self.location} (aliases: {known})")
        return AliasRecord(*row)

    def aliases(self) -> List[AliasRecord]:
        """Every alias, by alias."""
        with self._db.transaction() as tx:
            rows = tx.rows(f"SELECT {_ALIAS_COLUMNS} FROM {_ALIASES} ORDER BY a.alias")
        return [AliasRecord(*row) for row in rows]

    def alias_target(self, alias: str) -> Optional[str]:
        """The id of the voice ``alias`` names, or None."""
        with self._db.transaction() as tx:
            row = tx.one(f"SELECT a.voice_id FROM {_ALIASES} WHERE a.alias = ?", (alias,))
        return row[0] if row else None

    # ------------------------------------------------------------------------------------------ consents

    def create_consent(self, audio: bytes, filename: str, language: str, name: Optional[str] = None) -> ConsentRecord:
        """Keep a consent recording (the speaker agreeing to have their voice cloned)."""
        audio = check_audio(audio, "the consent recording")
        filename = check_filename(filename, "the consent recording's filename")
        language = check_language(language)
        if name is not None:
            name = check_text(name, "consent name", MAX_CONSENT_NAME)
        record = ConsentRecord(id=new_id(CONSENT_ID_PREFIX), name=name, language=language,
                               created_at=int(time.time()), audio_filename=filename)
        with self._db.transaction(write=True) as tx:
            tx.run(f"INSERT INTO luxtts_consents ({_CONSENT_COLUMNS}, audio) VALUES (?, ?, ?, ?, ?, ?)",
                   (record.id, record.name, record.language, record.created_at, record.audio_filename, audio))
        return record

    def get_consent(self, consent_id: str) -> ConsentRecord:
        with self._db.transaction() as tx:
            row = tx.one(f"SELECT {_CONSENT_COLUMNS} FROM luxtts_consents WHERE id = ?", (_consent_key(consent_id),))
        if row is None:
            raise ConsentNotFoundError(f"no voice consent with id {short(consent_id)} in {self.location}")
        return ConsentRecord(*row)

    def consent_audio(self, consent_id: str) -> bytes:
        with self._db.transaction() as tx:
            row = tx.one("SELECT audio FROM luxtts_consents WHERE id = ?", (_consent_key(consent_id),))
        if row is None:
            raise ConsentNotFoundError(f"no voice consent with id {short(consent_id)} in {self.location}")
        return bytes(row[0])

    def list_consents(self) -> List[ConsentRecord]:
        with self._db.transaction() as tx:
            rows = tx.rows(f"SELECT {_CONSENT_COLUMNS} FROM luxtts_consents ORDER BY created_at, id")
        return [ConsentRecord(*row) for row in rows]


def _voice_values(r: VoiceRecord) -> Sequence:
    return (r.id, r.name, r.created_at, r.transcript, r.consent_id, r.audio_filename, r.vocab_sha256, r.imported_from)


def _consent_key(consent_id: object) -> str:
    if not isinstance(consent_id, str):
        raise InvalidOptionError(f"a consent id must be a string, got {type(consent_id).__name__}")
    return consent_id
