"""A real PostgreSQL server for tests: ``initdb`` + ``pg_ctl`` in a temporary folder, on 127.0.0.1, free port.

Finds the binaries on PATH or under /usr/lib/postgresql/<version>/bin (Debian's ``postgresql`` package). The
postgres server refuses to run as root, so under root it runs as an unprivileged user (``postgres`` if the
package made one, else ``luxtts-pg``, created here) that owns the temporary folder. Authentication is
``trust`` on loopback only: the server is the test's own and dies with it.

    server = PostgresServer.start()
    url = server.create_database()      # postgresql://postgres@127.0.0.1:PORT/test_1
    server.stop()
"""

from __future__ import annotations

import atexit
import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import List, Optional

PREFERRED_MAJOR = "15"
SUPERUSER = "postgres"
_FALLBACK_OS_USER = "luxtts-pg"


def find_bin_dir() -> Path:
    """The folder holding initdb, pg_ctl and postgres."""
    candidates: List[Path] = []
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: (Path(p).parent.name != PREFERRED_MAJOR,
                                                                                 -_major(Path(p).parent.name)))
    candidates += [Path(p) for p in versions]
    for folder in candidates:
        if all((folder / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            return folder
    raise FileNotFoundError(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found on PATH or in "
        "/usr/lib/postgresql/*/bin: apt-get install postgresql"
    )


def _major(text: str) -> int:
    return int(text) if text.isdigit() else 0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _os_user() -> Optional[str]:
    """None when not root (run as ourselves), else an unprivileged user to run the server as."""
    if os.geteuid() != 0:
        return None
    import pwd

    for name in (SUPERUSER, _FALLBACK_OS_USER):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", _FALLBACK_OS_USER],
                   check=True, capture_output=True)
    return _FALLBACK_OS_USER


class PostgresError(RuntimeError):
    """A PostgreSQL tool failed; the message carries its output."""


class PostgresServer:
    def __init__(self, bin_dir: Path, root: Path, port: int, os_user: Optional[str]) -> None:
        self.bin_dir = bin_dir
        self.root = root
        self.data = root / "data"
        self.port = port
        self.os_user = os_user
        self.host = "127.0.0.1"
        self._names = itertools.count(1)
        self._running = False

    @classmethod
    def start(cls, attempts: int = 3) -> "PostgresServer":
        bin_dir = find_bin_dir()
        os_user = _os_user()
        # not under pytest's tmp_path: that is private to root, and the server's user must reach its folder
        root = Path(tempfile.mkdtemp(prefix="luxtts-pg-"))
        os.chmod(root, 0o755)
        server = cls(bin_dir, root, 0, os_user)
        if os_user:
            shutil.chown(root, user=os_user)
        try:
            server._run("initdb", "-D", str(server.data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8",
                        "--locale=C", "--no-sync")
            last = None
            for _ in range(attempts):
                server.port = _free_port()
                try:
                    server._start()
                    break
                except PostgresError as e:  # the port was taken between probe and start
                    last = e
            else:
                raise RuntimeError(f"PostgreSQL did not start: {server.log_tail()}") from last
        except BaseException:
            server.stop()
            raise
        atexit.register(server.stop)
        return server

    def _start(self) -> None:
        options = (f"-p {self.port} -h {self.host} -k {self.root} -c fsync=off -c full_page_writes=off "
                   "-c max_connections=200")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-o", options, "-w",
                  "-t", "60", "start")
        self._running = True

    def _run(self, tool: str, *args: str) -> subprocess.CompletedProcess:
        command = [str(self.bin_dir / tool), *args]
        if self.os_user:
            command = ["runuser", "-u", self.os_user, "--", *command]
        try:
            return subprocess.run(command, check=True, capture_output=True, text=True, cwd=self.root, timeout=120)
        except subprocess.CalledProcessError as e:
            raise PostgresError(f"{tool} failed ({e.returncode}): {(e.stderr or e.stdout or '').strip()}") from e

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@{self.host}:{self.port}/{database}"

    def create_database(self, name: Optional[str] = None) -> str:
        """A new empty database; returns its URL."""
        import psycopg

        name = name or f"test_{next(self._names)}"
        # FILE_COPY: copying template1's files is several times quicker here than PostgreSQL 15's default of
        # writing them through the WAL
        with psycopg.connect(self.url(), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}" STRATEGY FILE_COPY')
        return self.url(name)

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return (self.root / "server.log").read_text(errors="replace")[-chars:]
        except OSError:
            return "(no server log)"

    def stop(self) -> None:
        if self._running:
            self._running = False
            # immediate: the data is thrown away next, so the shutdown checkpoint would be wasted writing
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "-t", "60", "stop")
        if self.root.exists():
            shutil.rmtree(self.root, ignore_errors=True)
        deadline = time.monotonic() + 1
        while self.root.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
