"""The two databases the voice library runs on: a SQLite file (stdlib only) and PostgreSQL (psycopg 3).

Both get the same tables; this module hides the differences (placeholders, blob type, connecting, locking,
which exception means "unique constraint violated"). Connections are pooled per store and never shared by two
threads at once; a forked child drops the pool it inherited instead of using its parent's sockets.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, List, Optional, Sequence, Tuple
from urllib.parse import urlsplit, urlunsplit

from ..errors import VoiceStoreError

SCHEMA_VERSION = 2  # 2: luxtts_aliases
_POOL_SIZE = 8
_SQLITE_BUSY_SECONDS = 30.0  # how long a connection waits for another writer, and the WAL switch retries
# an arbitrary constant: the advisory lock PostgreSQL processes take while creating the tables
_PG_SCHEMA_LOCK = 0x6C757874_7473


def schema(blob: str) -> List[str]:
    return [
        "CREATE TABLE IF NOT EXISTS luxtts_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        f"""CREATE TABLE IF NOT EXISTS luxtts_consents (
            id TEXT PRIMARY KEY,
            name TEXT,
            language TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            audio_filename TEXT NOT NULL,
            audio {blob} NOT NULL)""",
        f"""CREATE TABLE IF NOT EXISTS luxtts_voices (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            created_at BIGINT NOT NULL,
            transcript TEXT NOT NULL,
            consent_id TEXT REFERENCES luxtts_consents (id),
            audio_filename TEXT NOT NULL,
            audio {blob} NOT NULL,
            prompt {blob} NOT NULL,
            vocab_sha256 TEXT,
            imported_from TEXT)""",
        # other names for voices (e.g. OpenAI's "alloy"); kept in step with luxtts_voices by the store, without a
        # foreign key, so that replacing a voice can move its aliases to the new row in the same transaction
        """CREATE TABLE IF NOT EXISTS luxtts_aliases (
            alias TEXT PRIMARY KEY,
            voice_id TEXT NOT NULL,
            created_at BIGINT NOT NULL)""",
    ]


class Tx:
    """One open transaction: ``rows``/``one``/``run`` with ``?`` placeholders on either database."""

    def __init__(self, cursor: Any, placeholder: str) -> None:
        self._cur = cursor
        self._ph = placeholder

    def run(self, sql: str, params: Sequence = ()) -> int:
        self._cur.execute(sql.replace("?", self._ph), tuple(params))
        return self._cur.rowcount

    def rows(self, sql: str, params: Sequence = ()) -> List[Tuple]:
        self.run(sql, params)
        return [tuple(r) for r in self._cur.fetchall()]

    def one(self, sql: str, params: Sequence = ()) -> Optional[Tuple]:
        found = self.rows(sql, params)
        return found[0] if found else None


class Backend:
    kind: str
    location: str  # for messages: a file path, or a URL without its password
    blob: str
    placeholder: str

    def __init__(self) -> None:
        self._idle: List[Any] = []
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._closed = False

    # -- subclass hooks
    def _connect(self) -> Any:
        raise NotImplementedError

    def _begin(self, conn: Any, write: bool) -> Any:
        raise NotImplementedError

    def _finish(self, conn: Any, commit: bool) -> None:
        raise NotImplementedError

    def is_unique_violation(self, error: BaseException) -> bool:
        raise NotImplementedError

    def db_errors(self) -> tuple:
        raise NotImplementedError

    def _lock_schema(self, tx: Tx) -> None:
        """Make concurrent schema creations wait for each other (inside the write transaction)."""

    def _has_meta_table(self, tx: Tx) -> bool:
        raise NotImplementedError

    def init_schema(self) -> None:
        """Create the tables if they are missing; refuse a library written by a newer luxtts."""
        with self.transaction() as tx:
            if self._schema_is_current(tx):
                return
        with self.transaction(write=True) as tx:
            self._lock_schema(tx)
            if self._schema_is_current(tx):
                return
            for statement in schema(self.blob):
                tx.run(statement)
            tx.run("INSERT INTO luxtts_meta (key, value) VALUES ('schema_version', ?) ON CONFLICT (key) DO UPDATE "
                   "SET value = excluded.value", (str(SCHEMA_VERSION),))

    def _schema_is_current(self, tx: Tx) -> bool:
        if not self._has_meta_table(tx):
            return False
        row = tx.one("SELECT value FROM luxtts_meta WHERE key = 'schema_version'")
        version = int(row[0]) if row else 0
        if version > SCHEMA_VERSION:
            raise VoiceStoreError(
                f"the voice library {self.location} was written by a newer luxtts (schema {version}; this one "
                f"knows up to {SCHEMA_VERSION}): upgrade luxtts"
            )
        return version == SCHEMA_VERSION

    # -- pooling and transactions
    @contextmanager
    def transaction(self, write: bool = False) -> Iterator[Tx]:
        conn, cursor = self._open_transaction(write)
        healthy = False
        try:
            try:
                yield Tx(cursor, self.placeholder)
            except BaseException as e:
                try:
                    self._finish(conn, commit=False)
                    healthy = True
                except Exception:  # noqa: BLE001 - the connection is dropped; the first error is the one to report
                    pass
                if isinstance(e, self.db_errors()) and not self.is_unique_violation(e):
                    raise self._failed(e) from e
                raise
            self._finish(conn, commit=True)
            healthy = True
        except self.db_errors() as e:
            raise self._failed(e) from e
        finally:
            self._release(conn, healthy)

    def _open_transaction(self, write: bool) -> Tuple[Any, Any]:
        conn, pooled = self._acquire()
        try:
            return conn, self._begin(conn, write)
        except (VoiceStoreError, *self.db_errors()) as e:
            _quiet_close(conn)
            if not pooled:
                raise self._failed(e) from e
        # an idle pooled connection may have died meanwhile (server restarted, idle timeout): one fresh try
        conn = self._connect()
        try:
            return conn, self._begin(conn, write)
        except BaseException as e:
            _quiet_close(conn)
            if isinstance(e, self.db_errors()):
                raise self._failed(e) from e
            raise

    def _failed(self, error: BaseException) -> VoiceStoreError:
        if isinstance(error, VoiceStoreError):
            return error
        return VoiceStoreError(f"the voice library {self.location} failed: {_one_line(error)}")

    def _acquire(self) -> Tuple[Any, bool]:
        with self._lock:
            if self._closed:
                raise VoiceStoreError(f"the voice library {self.location} is closed")
            if self._pid != os.getpid():
                self._idle, self._pid = [], os.getpid()
            conn = self._idle.pop() if self._idle else None
        return (conn, True) if conn is not None else (self._connect(), False)

    def _release(self, conn: Any, healthy: bool) -> None:
        with self._lock:
            if healthy and not self._closed and self._pid == os.getpid() and len(self._idle) < _POOL_SIZE:
                self._idle.append(conn)
                return
        _quiet_close(conn)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            _quiet_close(conn)


def _quiet_close(conn: Any) -> None:
    try:
        conn.close()
    except Exception:  # noqa: BLE001 - a broken connection is being dropped anyway
        pass


class SQLiteBackend(Backend):
    kind = "sqlite"
    blob = "BLOB"
    placeholder = "?"

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self.location = str(path)

    def _connect(self) -> sqlite3.Connection:
        try:
            # isolation_level=None: we issue BEGIN ourselves, so a write takes the lock up front (IMMEDIATE)
            # instead of failing when a read transaction tries to upgrade while another writer holds it
            conn = sqlite3.connect(str(self.path), timeout=_SQLITE_BUSY_SECONDS, isolation_level=None,
                                   check_same_thread=False)
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute(f"PRAGMA busy_timeout = {int(_SQLITE_BUSY_SECONDS * 1000)}")
        except sqlite3.Error as e:
            raise VoiceStoreError(f"cannot open the voice library {self.path}: {e}") from None
        return conn

    def _begin(self, conn: sqlite3.Connection, write: bool) -> sqlite3.Cursor:
        cursor = conn.cursor()
        try:
            cursor.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        except sqlite3.Error as e:
            raise VoiceStoreError(f"the voice library {self.path} cannot be used: {e}") from None
        return cursor

    def _finish(self, conn: sqlite3.Connection, commit: bool) -> None:
        conn.execute("COMMIT" if commit else "ROLLBACK")

    def is_unique_violation(self, error: BaseException) -> bool:
        return isinstance(error, sqlite3.IntegrityError) and "UNIQUE" in str(error)

    def db_errors(self) -> tuple:
        return (sqlite3.Error,)

    def init_schema(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # created empty with owner-only permissions before SQLite opens it; SQLite gives its -wal and -shm
            # files the database file's permissions
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            pass
        except OSError as e:
            raise VoiceStoreError(f"cannot create the voice library {self.path}: {e}") from None
        conn = self._connect()
        try:
            mode = self._write_ahead_logging(conn)
            if str(mode).lower() != "wal":
                raise VoiceStoreError(f"the voice library {self.path} cannot use write-ahead logging ({mode})")
        except sqlite3.DatabaseError as e:
            raise VoiceStoreError(f"{self.path} is not a usable SQLite voice library: {e}") from None
        finally:
            conn.close()
        super().init_schema()

    @staticmethod
    def _write_ahead_logging(conn: sqlite3.Connection) -> str:
        """Switch a new library to WAL, or see that another process did. The switch needs the file to itself,
        and SQLite answers "database is locked" at once, without waiting out busy_timeout, when servers open a
        new library together (7 of 200 trials of 6 threads, measured): so a locked switch is retried for up to
        the same busy timeout, and a library already in WAL mode is not switched at all."""
        deadline = time.monotonic() + _SQLITE_BUSY_SECONDS
        while True:
            try:
                mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
                if str(mode).lower() == "wal":
                    return mode
                return conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def _has_meta_table(self, tx: Tx) -> bool:
        return bool(tx.one("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'luxtts_meta'")[0])


class PostgresBackend(Backend):
    kind = "postgresql"
    blob = "BYTEA"
    placeholder = "%s"

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        self.location = _without_password(url)
        try:
            import psycopg
        except ImportError:
            raise VoiceStoreError(
                "a PostgreSQL voice library needs the psycopg driver: pip install 'luxtts[server]' "
                "(or 'psycopg[binary]')"
            ) from None
        self._psycopg = psycopg

    def _connect(self) -> Any:
        try:
            return self._psycopg.connect(self.url, autocommit=True, connect_timeout=10)
        except self._psycopg.Error as e:
            raise VoiceStoreError(f"cannot connect to the voice library {self.location}: {_one_line(e)}") from None

    def _begin(self, conn: Any, write: bool) -> Any:
        if conn.closed or conn.broken:
            raise VoiceStoreError(f"the connection to the voice library {self.location} was lost")
        cursor = conn.cursor()
        cursor.execute("BEGIN")
        return cursor

    def _finish(self, conn: Any, commit: bool) -> None:
        conn.execute("COMMIT" if commit else "ROLLBACK")

    def is_unique_violation(self, error: BaseException) -> bool:
        return isinstance(error, self._psycopg.errors.UniqueViolation)

    def db_errors(self) -> tuple:
        return (self._psycopg.Error,)

    def _lock_schema(self, tx: Tx) -> None:
        # CREATE TABLE IF NOT EXISTS is not safe against itself in PostgreSQL: two servers starting together
        # could both try to create the tables; the lock makes the second one wait and find them.
        tx.run("SELECT pg_advisory_xact_lock(?)", (_PG_SCHEMA_LOCK,))

    def _has_meta_table(self, tx: Tx) -> bool:
        # to_regclass follows the connection's search_path, as CREATE TABLE does
        return bool(tx.one("SELECT to_regclass('luxtts_meta') IS NOT NULL")[0])


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[1]}"))


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def parse_url(url: str) -> Tuple[str, str]:
    """("sqlite", absolute file path) or ("postgresql", URL) for ``sqlite:///abs/path``, ``sqlite:rel/path``, a
    plain file path, or ``postgresql://...``; VoiceStoreError for anything else. Opens nothing."""
    if not isinstance(url, str) or not url.strip():
        raise VoiceStoreError(f"voice library URL must be a non-empty string, got {url!r}")
    lowered = url.lower()
    if lowered.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        return "postgresql", "postgresql://" + url.split("://", 1)[1]
    if lowered.startswith("sqlite:"):
        rest = url[len("sqlite:"):]
        if rest.startswith("///"):
            rest = "/" + rest.lstrip("/")  # sqlite:///tmp/x.db and sqlite:////tmp/x.db both mean /tmp/x.db
        elif rest.startswith("//"):
            raise VoiceStoreError(f"voice library URL {url!r}: write sqlite:///absolute/path.db or sqlite:relative.db")
        if not rest or rest == ":memory:":
            raise VoiceStoreError(f"voice library URL {url!r} names no file (an in-memory library would be lost)")
        return "sqlite", str(Path(rest).expanduser().absolute())
    if "://" in url:
        raise VoiceStoreError(
            f"voice library URL {_without_password(url)!r} is not supported: use sqlite:///path/voices.db, a file "
            "path, or postgresql://user:password@host:port/database"
        )
    path = Path(url).expanduser()
    if path.is_dir():
        raise VoiceStoreError(f"voice library {url!r} is a folder; give a file such as {path / 'voices.db'}")
    return "sqlite", str(path.absolute())


def backend_for(url: str) -> Backend:
    kind, target = parse_url(url)
    return PostgresBackend(target) if kind == "postgresql" else SQLiteBackend(Path(target))
