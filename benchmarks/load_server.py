"""Load benchmark for ``luxtts serve``: N concurrent clients for a fixed time on loopback.

Starts the server itself (one process per model variant), creates one voice, warms up, then runs the
clients: each picks a one-sentence or a ~1,000-character input and a way to receive it (non-streamed wav,
streamed raw pcm, or SSE deltas), waits for the whole answer, and repeats until the time is up (requests in
flight then finish). A 429 is counted and retried after its Retry-After; anything else that is not a 200
with decodable audio is an error. Prints throughput (audio seconds per wall second), p50/p95/p99 time to
first audio and total latency, the 429 and error counts, and the server's RSS after warm-up and at the end.
Latencies are over the requests that completed; those cut at the end of --drain-seconds are counted apart.

    python benchmarks/load_server.py                                  # full-size random model, fp32 and int8, 32 clients, 120 s
    python benchmarks/load_server.py --clients 4 --seconds 20 --golden   # quick check on the small golden test model

Time to first audio: until the first audio bytes of a streamed answer (first non-empty pcm chunk, or first
speech.audio.delta); for a non-streamed answer it is the whole response time. Exit status 1 when a request
failed with anything but 429.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RATE = 24000  # pcm as OpenAI's clients assume it: 16-bit mono at 24 kHz
MODES = ("wav", "pcm-stream", "sse")


# ---------- the model, the voice and the texts ----------

@dataclass
class Workload:
    folder: Path
    prompt_wav: Path
    transcript: str
    short_texts: List[str]
    long_texts: List[str]


def long_texts_from(sentences: List[str], chars: int = 1000, count: int = 8) -> List[str]:
    """``count`` texts of whole sentences, each as close to ``chars`` characters as whole sentences allow."""
    out = []
    for start in range(count):
        parts: List[str] = []
        i = start
        while True:
            nxt = sentences[i % len(sentences)]
            if parts and len(" ".join(parts + [nxt])) > chars:
                break
            parts.append(nxt)
            i += 1
        out.append(" ".join(parts))
    return out


def random_workload(work: Path) -> Workload:
    from luxtts.bench.random_model import random_model_folder
    from luxtts.bench.workloads import PROMPT_TEXT, W1_TEXT, w2_text, write_prompt

    sentences = split_sentences(w2_text(400))
    # The random model's token table holds the phonemes of exactly these texts.
    folder = random_model_folder("full", extra_texts=sentences)
    return Workload(folder, write_prompt(work / "prompt.wav"), PROMPT_TEXT, [W1_TEXT, *sentences[:8]],
                    long_texts_from(sentences))


def golden_workload(work: Path) -> Workload:
    sys.path.insert(0, str(ROOT / "tests"))
    from golden_model import build_luxtts_folder, pipeline_cases, prompt_wav  # the tests' small model

    cases = pipeline_cases()
    folder = build_luxtts_folder(work / "golden-model")
    texts = [c["text"] for c in cases] + [c["prompt_text"] for c in cases]
    return Workload(folder, prompt_wav(), cases[0]["prompt_text"], texts[:1] + texts[-1:],
                    long_texts_from(texts))


def split_sentences(text: str) -> List[str]:
    out, cur = [], []
    for word in text.split():
        cur.append(word)
        if word.endswith((".", "?", "!")):
            out.append(" ".join(cur))
            cur = []
    return out + ([" ".join(cur)] if cur else [])


# ---------- the server ----------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``luxtts serve`` in a child process, with its log in a file."""

    def __init__(self, folder: Path, work: Path, quantize: Optional[str], max_queue: int,
                 threads: Optional[int], extra: List[str], device: str = "cpu") -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = work / f"server-{quantize or 'fp32'}.log"
        cmd = [sys.executable, "-m", "luxtts", "serve", "--model", str(folder), "--device", device,
               "--host", "127.0.0.1", "--port", str(self.port), "--max-queue", str(max_queue),
               "--voices-db", str(work / f"voices-{quantize or 'fp32'}.sqlite"), "--log-level", "warning", *extra]
        if quantize:
            cmd += ["--quantize", quantize]
        if threads:
            cmd += ["--threads", str(threads)]
        env = dict(os.environ, LUXTTS_HOME=str(work / "home"), PYTHONPATH=str(ROOT))
        env.pop("LUXTTS_API_KEY", None)
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=env)

    def wait_ready(self, timeout: float = 900) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"the server exited with {self.proc.returncode}; log: {self.log_path}\n"
                                 + self.log_path.read_text(errors="replace")[-3000:])
            try:
                if httpx.get(self.url + "/ready", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise SystemExit(f"the server was not ready within {timeout:.0f} s; log: {self.log_path}")

    def settle(self, timeout: float = 60.0) -> bool:
        """Wait until the server reports no speech request in flight (cancelled ones included)."""
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                text = httpx.get(self.url + "/metrics", timeout=10).text
                values = [float(line.split()[-1]) for line in text.splitlines() if line.startswith("luxtts_in_flight ")]
                if values and values[0] == 0:
                    return True
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.5)
        return False

    def counters(self) -> Dict[str, float]:
        """The server's own counts of generated and cancelled chunks and requests (from /metrics)."""
        import httpx

        names = ("luxtts_chunks_total", "luxtts_chunks_cancelled_total", "luxtts_requests_cancelled_total")
        out = {}
        for line in httpx.get(self.url + "/metrics", timeout=10).text.splitlines():
            name, _, value = line.partition(" ")
            if name in names:
                out[name] = float(value)
        return out

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process has used so far (psutil, else Linux's /proc)."""
        try:
            import psutil
        except ImportError:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        t = psutil.Process(self.proc.pid).cpu_times()
        return t.user + t.system

    def rss(self) -> int:
        """The server's resident set size in bytes (psutil, else Linux's /proc)."""
        try:
            import psutil
        except ImportError:
            status = Path(f"/proc/{self.proc.pid}/status").read_text()
            return int(next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1]) * 1024
        return psutil.Process(self.proc.pid).memory_info().rss

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=180)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


# ---------- the clients ----------

@dataclass
class Result:
    kind: str           # "short" or "long"
    mode: str           # one of MODES
    status: int
    ttfa: float = 0.0
    total: float = 0.0
    audio_s: float = 0.0
    error: str = ""
    retry_after: float = 1.0
    hung_up: bool = False  # the client went away after the first audio, as --hangup-share asks


@dataclass
class Tally:
    results: List[Result] = field(default_factory=list)
    rejected: int = 0   # 429s
    errors: List[str] = field(default_factory=list)
    cut: int = 0        # still running when --drain-seconds ran out: cancelled by disconnecting
    cut_audio_s: float = 0.0  # audio those had already streamed
    cut_ttfa: List[float] = field(default_factory=list)  # time to first audio of the cut ones that had some
    hung_up: List[Result] = field(default_factory=list)  # streamed requests abandoned after their first audio


async def one_request(client, url: str, voice: str, text: str, kind: str, mode: str,
                      live: Optional[Dict[str, float]] = None, hang_up: bool = False) -> Result:
    """One speech request received in ``mode``; ``live["audio_s"]`` follows the streamed audio as it arrives.
    hang_up: close the connection as soon as the first audio arrives (a streamed mode only)."""
    live = live if live is not None else {}
    live["audio_s"] = 0.0
    body = {"model": "luxtts", "input": text, "voice": voice, "speed": 1.0}
    if mode == "wav":
        body.update(response_format="wav")
    elif mode == "pcm-stream":
        body.update(response_format="pcm", stream_format="audio")
    else:
        body.update(response_format="pcm", stream_format="sse")
    t0 = time.perf_counter()
    first = None
    async with client.stream("POST", url + "/v1/audio/speech", json=body) as resp:
        if resp.status_code != 200:
            detail = (await resp.aread())[:300].decode(errors="replace")
            try:
                retry_after = float(resp.headers.get("retry-after", "1"))
            except ValueError:
                retry_after = 1.0
            return Result(kind, mode, resp.status_code, error=detail, retry_after=retry_after)
        data = bytearray()
        if mode == "sse":
            done = False
            async for line in resp.aiter_lines():
                if not line.startswith("data:"):
                    continue
                event = json.loads(line[5:].strip())
                if event.get("type") == "speech.audio.delta":
                    piece = base64.b64decode(event.get("audio") or "")
                    if piece and first is None:
                        first = time.perf_counter()
                        live["ttfa"] = first - t0
                        if hang_up:
                            return Result(kind, mode, 200, ttfa=first - t0, hung_up=True)
                    data += piece
                    live["audio_s"] = len(data) / 2 / RATE
                elif event.get("type") == "speech.audio.done":
                    done = True
                elif event.get("type") == "error" or "error" in event:
                    return Result(kind, mode, 200, error=f"error event: {json.dumps(event)[:300]}")
            if not done:
                return Result(kind, mode, 200, error="SSE stream ended without speech.audio.done")
        else:
            async for piece in resp.aiter_bytes():
                if piece and first is None:
                    first = time.perf_counter()
                    if mode != "wav":
                        live["ttfa"] = first - t0
                        if hang_up:
                            return Result(kind, mode, 200, ttfa=first - t0, hung_up=True)
                data += piece
                if mode != "wav":
                    live["audio_s"] = len(data) / 2 / RATE
    end = time.perf_counter()
    if mode == "wav":
        import soundfile as sf

        try:
            audio, rate = sf.read(io.BytesIO(bytes(data)), dtype="int16")
        except Exception as exc:  # noqa: BLE001 - any decoder failure is this request's error
            return Result(kind, mode, 200, error=f"wav does not decode: {exc}")
        samples, first = len(audio), end
    else:
        if len(data) % 2:
            return Result(kind, mode, 200, error=f"pcm of odd length {len(data)}")
        samples, rate = len(data) // 2, RATE
    if samples == 0:
        return Result(kind, mode, 200, error="no audio")
    return Result(kind, mode, 200, ttfa=first - t0, total=end - t0, audio_s=samples / rate)


async def client_loop(cid: int, url: str, voice: str, wl: Workload, deadline: float, long_share: float,
                      tally: Tally, seed: int, hangup_share: float = 0.0) -> None:
    import httpx

    rng = random.Random(seed * 1000 + cid)
    async with httpx.AsyncClient(timeout=httpx.Timeout(1800.0, connect=30.0)) as client:
        while time.perf_counter() < deadline:
            kind = "long" if rng.random() < long_share else "short"
            text = rng.choice(wl.long_texts if kind == "long" else wl.short_texts)
            mode = MODES[rng.randrange(len(MODES))]
            hang_up = mode != "wav" and rng.random() < hangup_share
            live: Dict[str, float] = {}
            try:
                res = await one_request(client, url, voice, text, kind, mode, live, hang_up)
            except asyncio.CancelledError:
                tally.cut += 1
                tally.cut_audio_s += live.get("audio_s", 0.0)
                if "ttfa" in live:
                    tally.cut_ttfa.append(live["ttfa"])
                raise
            except Exception as exc:  # noqa: BLE001 - a dropped connection or a timeout is an error here
                res = Result(kind, mode, 0, error=f"{type(exc).__name__}: {exc}")
            if res.status == 429:
                tally.rejected += 1
                await asyncio.sleep(min(res.retry_after, 5.0) * (0.5 + rng.random()))
                continue
            if res.error:
                tally.errors.append(f"{kind}/{mode} HTTP {res.status}: {res.error}")
                await asyncio.sleep(0.5)
                continue
            (tally.hung_up if res.hung_up else tally.results).append(res)


async def sample_rss(server: Server, samples: List[int], stop: asyncio.Event) -> None:
    while not stop.is_set():
        samples.append(server.rss())
        try:
            await asyncio.wait_for(stop.wait(), 1.0)
        except asyncio.TimeoutError:
            pass


async def run_clients(server: Server, voice: str, wl: Workload, args) -> Dict:
    tally = Tally()
    rss: List[int] = []
    stop = asyncio.Event()
    sampler = asyncio.create_task(sample_rss(server, rss, stop))
    cpu0 = server.cpu_seconds()
    t0 = time.perf_counter()
    deadline = t0 + args.seconds
    tasks = [asyncio.create_task(client_loop(i, server.url, voice, wl, deadline, args.long_share, tally, args.seed,
                                             args.hangup_share))
             for i in range(args.clients)]
    # Clients start nothing after the deadline; what is in flight gets --drain-seconds to finish, then the
    # client disconnects (which the server must turn into cancelled chunks, not wasted compute).
    _, pending = await asyncio.wait(tasks, timeout=args.seconds + args.drain_seconds)
    for task in pending:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    wall = time.perf_counter() - t0
    cpu = server.cpu_seconds() - cpu0
    stop.set()
    await sampler
    return {"tally": tally, "wall": wall, "cpu": cpu, "rss_peak": max(rss) if rss else 0}


# ---------- report ----------

def pct(values: List[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = (len(s) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def row(name: str, results: List[Result]) -> str:
    ttfa = [r.ttfa for r in results]
    total = [r.total for r in results]
    cells = [name, str(len(results))] + [f"{pct(v, q):.2f}" for v in (ttfa, total) for q in (0.5, 0.95, 0.99)]
    return "| " + " | ".join(cells) + " |"


def report(variant: str, out: Dict, rss_start: int, rss_end: int, args) -> Dict:
    tally: Tally = out["tally"]
    audio = sum(r.audio_s for r in tally.results)
    growth = 100.0 * (rss_end - rss_start) / rss_start if rss_start else float("nan")
    print(f"\n## {variant}: {args.clients} clients, {args.seconds:.0f} s of requests "
          f"(+ {out['wall'] - args.seconds:.1f} s to finish those in flight), max queue {args.max_queue}")
    print(f"throughput {audio / out['wall']:.3f} audio s / wall s  ({audio:.1f} s of audio in {out['wall']:.1f} s); "
          f"{len(tally.results)} requests ok, {tally.rejected} x 429, {len(tally.errors)} errors")
    # On a shared machine the server gets only part of the cores: audio per server CPU-second says how well
    # it used what it got.
    delivered = audio + tally.cut_audio_s
    print(f"server CPU {out['cpu']:.0f} s in {out['wall']:.0f} s of wall time ({out['cpu'] / out['wall']:.2f} cores on "
          f"average of {os.cpu_count()}); {delivered / max(out['cpu'], 1e-9):.3f} audio s delivered per server CPU s")
    if tally.hung_up:
        print(f"{len(tally.hung_up)} streamed requests hung up after their first audio (--hangup-share "
              f"{args.hangup_share:g}): their remaining chunks must be cancelled, not computed")
    if tally.cut:
        print(f"{tally.cut} requests still running after --drain-seconds were cancelled (they had streamed "
              f"{tally.cut_audio_s:.1f} s of audio: {(audio + tally.cut_audio_s) / out['wall']:.3f} audio s / wall s "
              "counting it)")
    print(f"server RSS {rss_start / 2**20:.0f} MB after warm-up, {rss_end / 2**20:.0f} MB at the end "
          f"({growth:+.1f} %), peak {out['rss_peak'] / 2**20:.0f} MB")
    print("\n| requests | n | TTFA p50 s | TTFA p95 s | TTFA p99 s | total p50 s | total p95 s | total p99 s |")
    print("|---|---|---|---|---|---|---|---|")
    print(row("all", tally.results))
    for kind in ("short", "long"):
        for mode in MODES:
            sel = [r for r in tally.results if r.kind == kind and r.mode == mode]
            if sel:
                print(row(f"{kind} {mode}", sel))
    streamed = [r for r in tally.results if r.mode != "wav"]
    if streamed:
        print(row("streamed (short+long)", streamed))
    if tally.cut_ttfa:
        every = [r.ttfa for r in streamed] + tally.cut_ttfa
        print(f"time to first audio over every streamed request that got audio, cut ones included (n={len(every)}): "
              f"p50 {pct(every, 0.5):.2f} s, p95 {pct(every, 0.95):.2f} s, p99 {pct(every, 0.99):.2f} s")
    for msg in tally.errors[:10]:
        print("error:", msg)
    return {"variant": variant, "clients": args.clients, "seconds": args.seconds, "wall": out["wall"],
            "audio_seconds": audio, "throughput": audio / out["wall"], "ok": len(tally.results),
            "rejected_429": tally.rejected, "cut": tally.cut, "hung_up": len(tally.hung_up), "cut_audio_seconds": tally.cut_audio_s, "errors": len(tally.errors), "error_samples": tally.errors[:10],
            "rss_start_mb": rss_start / 2**20, "rss_end_mb": rss_end / 2**20, "rss_peak_mb": out["rss_peak"] / 2**20,
            "rss_growth_pct": growth, "server_cpu_seconds": out["cpu"],
            "ttfa": {q: pct([r.ttfa for r in tally.results], q) for q in (0.5, 0.95, 0.99)},
            "total": {q: pct([r.total for r in tally.results], q) for q in (0.5, 0.95, 0.99)}}


# ---------- main ----------

def create_voice(url: str, wl: Workload) -> str:
    import httpx

    with open(wl.prompt_wav, "rb") as f:
        resp = httpx.post(url + "/v1/audio/voices", data={"name": "bench", "transcript": wl.transcript},
                          files={"audio_sample": ("prompt.wav", f, "audio/wav")}, timeout=600)
    if resp.status_code != 200:
        raise SystemExit(f"creating the voice failed: HTTP {resp.status_code} {resp.text[:500]}")
    return resp.json()["id"]


def warm_up(server: Server, voice: str, wl: Workload) -> None:
    """One short request per mode and one long one, at once: every code path and the chunk shapes touched
    before RSS is taken as the start value."""
    async def go():
        import httpx

        async with httpx.AsyncClient(timeout=1800) as client:
            jobs = [("short", wl.short_texts[0], mode) for mode in MODES] + [("long", wl.long_texts[0], "sse")]
            results = await asyncio.gather(*(one_request(client, server.url, voice, text, kind, mode)
                                             for kind, text, mode in jobs))
        for (kind, _, mode), res in zip(jobs, results):
            if res.error or res.status != 200:
                raise SystemExit(f"warm-up {kind}/{mode} failed: HTTP {res.status} {res.error}")
    asyncio.run(go())


async def _one_more(server: Server, voice: str, wl: Workload) -> None:
    import httpx

    async with httpx.AsyncClient(timeout=1800) as client:
        await one_request(client, server.url, voice, wl.short_texts[0], "short", "wav")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int, default=32, help="concurrent clients (default 32)")
    p.add_argument("--seconds", type=float, default=120.0, help="how long clients start new requests (default 120)")
    p.add_argument("--variants", default="fp32,int8", help="comma list of fp32, int8 (default both)")
    p.add_argument("--golden", action="store_true",
                   help="the small golden test model instead of the full-size random one (a quick check)")
    p.add_argument("--drain-seconds", type=float, default=900.0,
                   help="after --seconds, how long requests in flight may take to finish before the clients "
                        "disconnect (default 900)")
    p.add_argument("--long-share", type=float, default=0.25, help="share of ~1,000-character inputs (default 0.25)")
    p.add_argument("--hangup-share", type=float, default=0.0,
                   help="share of streamed requests whose client disconnects at the first audio (default 0)")
    p.add_argument("--max-queue", type=int, default=16, help="the server's --max-queue (default 16)")
    p.add_argument("--threads", type=int, default=None, help="the server's --threads")
    p.add_argument("--device", default="cpu", help="the server's --device (default cpu; int8 needs cpu)")
    p.add_argument("--batch-frames", type=int, default=None,
                   help="the server's --batch-frames (default: the device's, one chunk per call on a CPU)")
    p.add_argument("--seed", type=int, default=0, help="seed of the clients' choices")
    p.add_argument("--work", type=Path, default=None, help="folder for logs and the voice database (default: temporary)")
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    p.add_argument("--max-rss-growth", type=float, default=5.0, help="flag RSS growth above this percentage")
    args = p.parse_args(argv)
    if args.clients < 1 or args.seconds <= 0 or not 0 <= args.long_share <= 1 or not 0 <= args.hangup_share <= 1:
        p.error("--clients must be >= 1, --seconds > 0, --long-share and --hangup-share in [0, 1]")
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    bad = [v for v in variants if v not in ("fp32", "int8")]
    if bad or not variants:
        p.error(f"--variants takes fp32 and/or int8, got {args.variants!r}")
    args.variant_list = variants
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="luxtts-load-"))
    work.mkdir(parents=True, exist_ok=True)
    wl = golden_workload(work) if args.golden else random_workload(work)
    print(f"model {wl.folder} ({'golden test model' if args.golden else 'full-size random weights'}); "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; logs in {work}")
    print(f"inputs: {len(wl.short_texts)} one-sentence texts ({min(map(len, wl.short_texts))}-"
          f"{max(map(len, wl.short_texts))} chars), {len(wl.long_texts)} long texts "
          f"({min(map(len, wl.long_texts))}-{max(map(len, wl.long_texts))} chars), long share {args.long_share}; "
          f"modes {', '.join(MODES)} equally")
    summaries, failed = [], False
    for variant in args.variant_list:
        extra = [] if args.batch_frames is None else ["--batch-frames", str(args.batch_frames)]
        server = Server(wl.folder, work, "int8" if variant == "int8" else None, args.max_queue, args.threads, extra,
                        args.device)
        try:
            server.wait_ready()
            rss_ready = server.rss()
            voice = create_voice(server.url, wl)
            warm_up(server, voice, wl)
            server.settle()
            rss_start = server.rss()
            print(f"\n[{variant}] server RSS {rss_ready / 2**20:.0f} MB when ready, {rss_start / 2**20:.0f} MB after warm-up; "
                  f"running {args.clients} clients for {args.seconds:.0f} s ...", flush=True)
            out = asyncio.run(run_clients(server, voice, wl, args))
            if not server.settle():
                print(f"[{variant}] the server still had requests in flight 60 s after the clients left")
            rss_end = server.rss()
            summary = report(variant, out, rss_start, rss_end, args)
            counts = server.counters()
            summary["server_counters"] = counts
            print("server counters: " + ", ".join(f"{k} {v:.0f}" for k, v in counts.items()))
            summary["rss_ready_mb"] = rss_ready / 2**20
            if out["tally"].cut:
                # A cancelled request's freed memory goes back to the OS at the next trim, which runs between
                # the chunks of a request that completes: one more short request shows where RSS settles.
                asyncio.run(_one_more(server, voice, wl))
                server.settle()
                summary["rss_after_one_more_mb"] = server.rss() / 2**20
                print(f"server RSS after one more short request: {summary['rss_after_one_more_mb']:.0f} MB "
                      f"({100 * (summary['rss_after_one_more_mb'] * 2**20 - rss_start) / rss_start:+.1f} %)")
            settled = summary.get("rss_after_one_more_mb", summary["rss_end_mb"]) * 2**20
            if 100 * (settled - rss_start) / rss_start > args.max_rss_growth:
                print(f"RSS grew {100 * (settled - rss_start) / rss_start:.1f} % (> {args.max_rss_growth} %)")
            summaries.append(summary)
            if summary["errors"]:
                failed = True
        finally:
            code = server.stop()
            if code not in (0, None, -signal.SIGTERM):
                print(f"[{variant}] server exited with {code}; log: {server.log_path}")
    if args.json:
        args.json.write_text(json.dumps(summaries, indent=1))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
