"""Throughput of the Ray Serve deployment with 1 and 2 replicas, in alternating rounds on one Ray instance.

Starts a local Ray instance, deploys ``luxtts.server.ray_app`` with N replicas (a SQLite voice library: one
machine), creates one voice, then per round: --clients concurrent clients send one-sentence pcm requests for
--seconds; throughput = audio seconds made / wall seconds. Rounds alternate 1, 2, 1, 2, ... replicas so that
a busy machine's drift hits both alike; the ratio of the means is printed.

    python benchmarks/ray_replicas.py                      # the small golden test model, 2 CPUs, 2 rounds each
    python benchmarks/ray_replicas.py --whole-machine      # the single replica gets both CPUs as torch threads
    python benchmarks/ray_replicas.py --model /path/to/model --cpus 8 --cpus-per-replica 4
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
RATE = 24000


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=None, help="model folder (default: the golden test model)")
    p.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray instance (default 2)")
    p.add_argument("--cpus-per-replica", type=float, default=1.0)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--rounds", type=int, default=2, help="rounds per replica count (default 2)")
    p.add_argument("--whole-machine", action="store_true",
                   help="give the single replica all --cpus (as many torch threads) instead of --cpus-per-replica, "
                        "so that both cases may use the same cores")
    args = p.parse_args(argv)

    import httpx
    import ray
    from golden_model import build_luxtts_folder, pipeline_cases, prompt_wav
    from ray import serve

    from luxtts.server.ray_app import APP_NAME, RayOptions, application
    from luxtts.server.settings import ServerSettings

    work = Path(tempfile.mkdtemp(prefix="luxtts-ray-bench-"))
    folder = args.model or str(build_luxtts_folder(work / "model"))
    os.environ.setdefault("PYTHONPATH", str(ROOT))
    ray.init(num_cpus=args.cpus, include_dashboard=False, logging_level="WARNING", log_to_driver=False)
    port = _free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port, "request_timeout_s": 300})
    url = f"http://127.0.0.1:{port}"
    settings = ServerSettings(model=folder, device="cpu", port=port, max_queue=16, voices_db=str(work / "v.db"))
    texts = [c["text"] for c in pipeline_cases()]
    print(f"model {folder}; {os.cpu_count()} CPUs on the machine, Ray given {args.cpus}; "
          f"load average {os.getloadavg()[0]:.1f}; {args.clients} clients, {args.seconds:g} s per round")
    results = {1: [], 2: []}
    try:
        voice_made = False
        for rnd in range(args.rounds):
            for n in (1, 2):
                cpus = args.cpus if (n == 1 and args.whole_machine) else args.cpus_per_replica
                # a fresh deployment each round: updating in place can wait forever for CPUs the old
                # replicas still hold
                serve.delete(APP_NAME)
                serve.run(application(settings, RayOptions(replicas=n, cpus_per_replica=cpus)),
                          name=APP_NAME, route_prefix="/")
                if not voice_made:
                    with open(prompt_wav(), "rb") as f:
                        r = httpx.post(url + "/v1/audio/voices", data={"name": "bench", "transcript":
                                       pipeline_cases()[0]["prompt_text"]},
                                       files={"audio_sample": ("v.wav", f.read(), "audio/wav")}, timeout=120)
                    r.raise_for_status()
                    voice_made = True
                _round(url, texts, args.clients, 3.0)  # warm-up: every replica has run the model
                audio, wall, replicas, errors = _round(url, texts, args.clients, args.seconds)
                results[n].append(audio / wall)
                print(f"round {rnd + 1}, {n} replica(s) x {cpus:g} CPU: {audio:.1f} s of audio in {wall:.1f} s = "
                      f"{audio / wall:.2f} audio s/s; served by {len(replicas)} replica(s); errors {errors}; "
                      f"load average {os.getloadavg()[0]:.1f}", flush=True)
    finally:
        serve.shutdown()
        ray.shutdown()
    one, two = (sum(v) / len(v) for v in (results[1], results[2]))
    print(f"mean throughput: 1 replica {one:.2f}, 2 replicas {two:.2f} audio s/s; ratio 2/1 = {two / one:.2f}")
    return 0


def _round(url, texts, clients, seconds):
    import httpx

    stop = time.monotonic() + seconds
    lock = threading.Lock()
    tally = {"audio": 0.0, "errors": 0, "replicas": set()}

    def client(i):
        with httpx.Client(timeout=300) as http:
            j = i
            while time.monotonic() < stop:
                body = {"model": "luxtts", "voice": "bench", "input": texts[j % len(texts)], "response_format": "pcm"}
                r = http.post(url + "/v1/audio/speech", json=body)
                j += 1
                with lock:
                    if r.status_code == 200:
                        tally["audio"] += len(r.content) / 2 / RATE
                        tally["replicas"].add(r.headers.get("x-luxtts-replica"))
                    else:
                        tally["errors"] += 1

    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    return tally["audio"], time.monotonic() - t0, tally["replicas"], tally["errors"]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


if __name__ == "__main__":
    sys.exit(main())
