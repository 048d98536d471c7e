"""Attack ``luxtts serve`` as an operator's adversary would, and print what it cost the server.

Two floods, each against a fresh server process on 127.0.0.1 (the small golden model by default, or --model):

- uploads: N parallel voice uploads of junk of the largest accepted size, while /health is polled; prints the
  server's RSS (idle, peak, after), its open files, the slowest /health, and how the uploads were answered
  (400 junk, 429 refused by --max-uploads, ...);
- half-open: N connections that send half a request head and then nothing, while /health is polled and one
  speech request is made; prints the same, and how many connections the server closed.

    python benchmarks/attack_server.py                       # full size: 100 uploads x 20 MiB, 20,000 connections
    python benchmarks/attack_server.py --uploads 48 --connections 2000   # the suite's size (tests/test_server_floods.py)

Exit status 1 if /health ever failed or a request got a 5xx.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

ROOT = Path(__file__).resolve().parents[1]
MIB = 1024 * 1024


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def open_files(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(model: Path, workdir: Path, *args: str):
    """A ``luxtts serve`` process on a free port with a throwaway library; yields (url, pid)."""
    import httpx

    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [sys.executable, "-m", "luxtts", "serve", "--model", str(model), "--device", "cpu", "--port", str(port),
           "--voices-db", str(workdir / "voices.db"), "--log-level", "warning", *args]
    log = open(workdir / "server.log", "w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(url + "/ready", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start: {(workdir / 'server.log').read_text()[-2000:]}")
            time.sleep(0.1)
        yield url, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@dataclass
class Watch:
    """/health latency and the server's RSS and open files, sampled while a flood runs. On a thread of its own
    with its own connection: the flood's client loop must not delay the checks it is timing."""
    pid: int
    url: str
    health_worst: float = 0.0
    health_failures: int = 0
    health_checks: int = 0
    rss_peak: float = 0.0
    files_peak: int = 0

    def __post_init__(self) -> None:
        import threading

        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "Watch":
        self._thread.start()
        return self

    def _run(self) -> None:
        import httpx

        with httpx.Client(timeout=10) as client:
            while not self._stop.is_set():
                self.rss_peak = max(self.rss_peak, rss_mb(self.pid))
                self.files_peak = max(self.files_peak, open_files(self.pid))
                start = time.monotonic()
                try:
                    ok = client.get(self.url + "/health").status_code == 200
                except httpx.HTTPError:
                    ok = False
                self.health_worst = max(self.health_worst, time.monotonic() - start)
                self.health_checks += 1
                self.health_failures += not ok
                self._stop.wait(0.05)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)


@dataclass
class FloodResult:
    what: str
    rss_idle: float
    rss_peak: float
    rss_after: float
    files_idle: int
    files_peak: int
    health_worst: float
    health_failures: int
    health_checks: int
    answers: Dict[str, int] = field(default_factory=dict)
    extra: Dict[str, object] = field(default_factory=dict)

    def lines(self) -> List[str]:
        return [f"{self.what}:",
                f"  RSS idle {self.rss_idle:.0f} MB, peak {self.rss_peak:.0f} MB (+{self.rss_peak - self.rss_idle:.0f}), "
                f"after {self.rss_after:.0f} MB",
                f"  open files idle {self.files_idle}, peak {self.files_peak}",
                f"  /health: {self.health_checks} checks, {self.health_failures} failed, slowest "
                f"{self.health_worst * 1000:.0f} ms",
                f"  answers: {dict(sorted(self.answers.items()))}",
                *(f"  {k}: {v}" for k, v in self.extra.items())]


def junk_upload(size: int) -> tuple:
    """A multipart voice upload whose audio is ``size`` bytes of noise: (body, content type)."""
    boundary = "attackboundary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\njunk\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"transcript\"\r\n\r\nhello\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"audio_sample\"; filename=\"a.wav\"\r\n"
            "Content-Type: audio/wav\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    return head + os.urandom(size) + tail, f"multipart/form-data; boundary={boundary}"


async def upload_flood(url: str, pid: int, count: int, size: int) -> FloodResult:
    import httpx

    body, ctype = junk_upload(size)
    await asyncio.sleep(0.5)
    rss_idle, files_idle = rss_mb(pid), open_files(pid)
    watch = Watch(pid, url).start()
    limits = httpx.Limits(max_connections=count + 8, max_keepalive_connections=0)
    answers: Dict[str, int] = {}
    start = time.monotonic()
    async with httpx.AsyncClient(timeout=300, limits=limits) as client:
        async def one():
            try:
                r = await client.post(url + "/v1/audio/voices", content=body, headers={"content-type": ctype})
                key = str(r.status_code)
            except httpx.HTTPError as exc:
                key = type(exc).__name__
            answers[key] = answers.get(key, 0) + 1

        await asyncio.gather(*[one() for _ in range(count)])
    took = time.monotonic() - start
    await asyncio.sleep(0.5)
    watch.stop()
    return FloodResult(f"{count} parallel uploads of {size / MIB:.0f} MiB of junk", rss_idle, watch.rss_peak,
                       rss_mb(pid), files_idle, watch.files_peak, watch.health_worst, watch.health_failures,
                       watch.health_checks, answers, {"flood took": f"{took:.1f} s"})


def _hold_half_open(host: str, port: int, count: int, hold: float, pipe) -> None:
    """In a child process (its own file handles): open ``count`` connections that send half a request head,
    say how many opened, keep them ``hold`` s, then say how many the server had closed."""

    async def run():
        conns, refused = [], 0
        for i in range(count):
            try:
                reader, writer = await asyncio.open_connection(host, port)
                writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # the head never ends
                conns.append((reader, writer))
            except OSError:
                refused += 1
            if i % 200 == 0:
                await asyncio.sleep(0)
        pipe.send((len(conns), refused))
        await asyncio.sleep(hold)
        closed = sum(1 for reader, _ in conns if reader.at_eof() or reader.exception() is not None)
        for _, writer in conns:
            writer.close()
        pipe.send(closed)

    raise_own_file_limit(count + 256)
    asyncio.run(run())


async def half_open_flood(url: str, pid: int, count: int, voice: Optional[str], hold: float) -> FloodResult:
    """``count`` half-open connections from child processes (one process holds at most its open-file limit), while
    /health is polled and one speech request is made."""
    import multiprocessing

    import httpx

    host, port = url.rsplit("//", 1)[1].split(":")
    per_child = max(1, resource.getrlimit(resource.RLIMIT_NOFILE)[1] - 512)
    shares = [min(per_child, count - i) for i in range(0, count, per_child)]
    await asyncio.sleep(0.5)
    rss_idle, files_idle = rss_mb(pid), open_files(pid)
    watch = Watch(pid, url).start()
    start = time.monotonic()
    ctx = multiprocessing.get_context("fork")
    children = []
    for share in shares:
        mine, theirs = ctx.Pipe()
        proc = ctx.Process(target=_hold_half_open, args=(host, int(port), share, hold, theirs), daemon=True)
        proc.start()
        children.append((proc, mine))
    opened = refused = 0
    for _, pipe in children:
        got, no = await asyncio.to_thread(pipe.recv)
        opened, refused = opened + got, refused + no
    took = time.monotonic() - start
    answers: Dict[str, int] = {}
    speech_ok = None
    if voice is not None:
        async with httpx.AsyncClient(timeout=120) as client:
            r = await client.post(url + "/v1/audio/speech", json={"voice": voice, "input": "Still speaking.",
                                                                 "response_format": "pcm"})
            speech_ok = r.status_code == 200 and len(r.content) > 1000
            answers[f"speech {r.status_code}"] = 1
    closed = 0
    for proc, pipe in children:
        closed += await asyncio.to_thread(pipe.recv)
        proc.join(30)
    watch.stop()
    await asyncio.sleep(0.5)
    return FloodResult(f"{count} half-open connections", rss_idle, watch.rss_peak, rss_mb(pid), files_idle,
                       watch.files_peak, watch.health_worst, watch.health_failures, watch.health_checks, answers,
                       {"opened in": f"{took:.1f} s", "connects refused": refused,
                        "closed by the server": f"{closed} of {opened}", "speech during the flood ok": speech_ok})


def raise_own_file_limit(need: int) -> None:
    """The flood's own sockets need file handles too: raise the soft limit (and the hard one, where allowed)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= need:
        return
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, max(hard, need)))  # root may raise the hard limit
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, need), hard))


def golden_model(dest: Path) -> Path:
    sys.path.insert(0, str(ROOT / "tests"))
    from golden_model import build_luxtts_folder

    return build_luxtts_folder(dest)


def create_voice(url: str, name: str) -> None:
    import httpx

    sys.path.insert(0, str(ROOT / "tests"))
    from golden_model import pipeline_cases, prompt_wav

    r = httpx.post(url + "/v1/audio/voices", data={"name": name, "transcript": pipeline_cases()[0]["prompt_text"]},
                   files={"audio_sample": ("v.wav", prompt_wav().read_bytes(), "audio/wav")}, timeout=120)
    r.raise_for_status()


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, default=None, help="model folder (default: the small golden model)")
    p.add_argument("--uploads", type=int, default=100, help="parallel junk uploads (default 100)")
    p.add_argument("--upload-mb", type=float, default=20.0, help="size of each (default 20, the default limit)")
    p.add_argument("--connections", type=int, default=20_000, help="half-open connections (default 20,000)")
    p.add_argument("--hold", type=float, default=12.0,
                   help="seconds to hold the half-open connections after opening them (default 12: past the "
                        "default 10 s header timeout)")
    p.add_argument("serve_args", nargs="*", help="extra `luxtts serve` options, after --")
    args = p.parse_args(argv)
    raise_own_file_limit(args.connections + 1024)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model = args.model or golden_model(work / "model")
        results = []
        with serve(model, work, *args.serve_args) as (url, pid):
            results.append(asyncio.run(upload_flood(url, pid, args.uploads, int(args.upload_mb * MIB))))
        (work / "voices.db").unlink()
        with serve(model, work, *args.serve_args) as (url, pid):
            create_voice(url, "v")
            results.append(asyncio.run(half_open_flood(url, pid, args.connections, "v", args.hold)))
    bad = False
    for r in results:
        print("\n".join(r.lines()))
        bad |= r.health_failures > 0 or any(k.startswith("5") or k.startswith("speech 5") for k in r.answers)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
