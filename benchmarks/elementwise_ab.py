"""A/B of two luxtts checkouts on W1 (one pass or default path): seconds and B/A ratio per round, audio SNR of B vs A.

    python benchmarks/elementwise_ab.py --baseline /path/to/other/luxtts [--variants int8,float32,bfloat16]
        [--rounds 5] [--threads 2] [--profile 12] [--path one-pass|default]

A is the checkout given by --baseline (e.g. a `git worktree add` of main), B is the checkout this script lives
in. For each variant both are loaded once, each in its own process (so each imports its own code), on the same
full-size random weights, the bench's synthetic 5 s prompt and W1 text, `generate(W1_TEXT, prompt,
chunk_tokens=None, seed=0)` (with --path default: generate's default chunking, W1 in 2 chunks); then they
take turns, the order flipped every round, so that a noisy, shared machine slows both alike. Only the
per-round ratios mean much on such a machine: the summary gives their median and range, and the best and
median seconds of each side. With --threads 1 the process CPU time is also a fair measure, and much steadier
on a busy machine (with more threads it counts OpenMP's spin-waiting too). --profile N also prints each side's
top-N ops by self CPU time for one extra pass (torch.profiler).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PATHS = ("one-pass", "default")
VARIANTS = {"float32": {}, "int8": {"quantize": "int8"}, "bfloat16": {"dtype": "bfloat16"}}


# ---------------------------------------------------------------------------------------------- worker side

def worker(variant: str, threads: int, path: str = "one-pass") -> int:
    """Loads the model once, then answers one JSON command per stdin line with one JSON line on stdout."""
    import numpy as np
    import torch

    import luxtts
    from luxtts import LuxTTS
    from luxtts.bench.random_model import _default_cache, random_model_folder
    from luxtts.bench.workloads import PROMPT_TEXT, W1_TEXT, write_prompt

    torch.set_num_threads(threads)
    out = sys.stdout
    sys.stdout = sys.stderr  # anything the library prints must not mix with the replies
    tts = LuxTTS.from_pretrained(random_model_folder("full"), device="cpu", **VARIANTS[variant])
    prompt = tts.encode_prompt(str(write_prompt(_default_cache() / "synthetic_prompt_5s.wav")), text=PROMPT_TEXT)

    def generate_once():
        if path == "default":
            return tts.generate(W1_TEXT, prompt, seed=0)
        return tts.generate(W1_TEXT, prompt, chunk_tokens=None, seed=0)

    generate_once()  # warm-up: allocator, oneDNN primitive caches
    reply = {"ready": True, "luxtts": str(Path(luxtts.__file__).resolve().parents[1])}
    print(json.dumps(reply), file=out, flush=True)
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["op"] == "run":
            t0, c0 = time.perf_counter(), time.process_time()
            result = generate_once()
            seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
            np.save(cmd["audio"], result.audio.numpy())
            reply = {"seconds": seconds, "cpu_seconds": cpu, "audio_seconds": result.duration,
                     "acoustic": result.timings.get("acoustic"), "vocoder": result.timings.get("vocoder")}
        elif cmd["op"] == "profile":
            from torch.profiler import ProfilerActivity, profile

            with profile(activities=[ProfilerActivity.CPU]) as prof:
                generate_once()
            reply = {"table": prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=cmd["rows"])}
        else:
            break
        print(json.dumps(reply), file=out, flush=True)
    return 0


# ---------------------------------------------------------------------------------------------- driver side

class Side:
    """One checkout's worker process for one variant."""

    def __init__(self, name: str, root: Path, variant: str, threads: int, path: str = "one-pass") -> None:
        self.name, self.root = name, root
        env = dict(os.environ, PYTHONPATH=str(root), OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--worker", variant, "--threads", str(threads),
             "--path", path],
            cwd=str(root), env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        ready = self._read()
        if Path(ready["luxtts"]) != root.resolve():
            raise SystemExit(f"{name}: imported luxtts from {ready['luxtts']}, expected {root} (PYTHONPATH ignored?)")

    def ask(self, **cmd) -> dict:
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"{self.name} worker ({self.root}) died; its stderr is above")
        return json.loads(line)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=60)


def compare(variant: str, baseline: Path, rounds: int, threads: int, profile_rows: int, tmp: Path,
            reference=None, path: str = "one-pass") -> dict:
    """reference: A's float32 audio, or None; int8 and bfloat16 are also scored against it (see main)."""
    import numpy as np
    import torch

    from luxtts.runtime import snr_db

    a, b = Side("A", baseline, variant, threads, path), Side("B", ROOT, variant, threads, path)
    try:
        secs, cpus = {"A": [], "B": []}, {"A": [], "B": []}
        snrs, ref_snrs = [], {"A": [], "B": []}
        for r in range(rounds):
            order = (a, b) if r % 2 == 0 else (b, a)
            got = {side.name: side.ask(op="run", audio=str(tmp / f"{variant}-{side.name}.npy")) for side in order}
            for name in "AB":
                secs[name].append(got[name]["seconds"])
                cpus[name].append(got[name]["cpu_seconds"])
            audio_a = np.load(tmp / f"{variant}-A.npy")
            audio_b = np.load(tmp / f"{variant}-B.npy")
            n = min(len(audio_a), len(audio_b))
            snr = snr_db(torch.from_numpy(audio_b[:n]), torch.from_numpy(audio_a[:n]))
            snrs.append(snr)
            vs_ref = ""
            if reference is not None:
                for name, audio in (("A", audio_a), ("B", audio_b)):
                    m = min(len(audio), len(reference))
                    ref_snrs[name].append(snr_db(torch.from_numpy(audio[:m]), torch.from_numpy(reference[:m])))
                vs_ref = f"  (vs float32 A: A {ref_snrs['A'][-1]:.1f}, B {ref_snrs['B'][-1]:.1f} dB)"
            print(f"  {variant:8s} round {r + 1}: A {secs['A'][-1]:.3f} s  B {secs['B'][-1]:.3f} s  "
                  f"B/A {secs['B'][-1] / secs['A'][-1]:.3f}  (CPU: A {cpus['A'][-1]:.3f} s  B {cpus['B'][-1]:.3f} s  "
                  f"B/A {cpus['B'][-1] / cpus['A'][-1]:.3f})  audio {got['B']['audio_seconds']:.2f} s"
                  f"{'' if len(audio_a) == len(audio_b) else f' (lengths differ: {len(audio_a)} vs {len(audio_b)})'}"
                  f"  SNR {snr:.1f} dB{vs_ref}", flush=True)
        if profile_rows:
            for side in (a, b):
                print(f"--- {variant} profile of {side.name} ({side.root})")
                print(side.ask(op="profile", rows=profile_rows)["table"])
    finally:
        a.close()
        b.close()
    ratios = [sb / sa for sa, sb in zip(secs["A"], secs["B"])]
    cpu_ratios = [sb / sa for sa, sb in zip(cpus["A"], cpus["B"])]
    return {"variant": variant, "A": secs["A"], "B": secs["B"], "ratios": ratios, "cpu_ratios": cpu_ratios, "snr_db": min(snrs),
            "ref_snr_db": {k: min(v) for k, v in ref_snrs.items() if v},
            "audio_a": np.load(tmp / f"{variant}-A.npy")}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", type=Path, help="the other luxtts checkout (A)")
    ap.add_argument("--variants", default="int8,float32,bfloat16", help=f"comma-separated, of {', '.join(VARIANTS)}")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--profile", type=int, default=0, metavar="N", help="print each side's top-N ops after the rounds")
    ap.add_argument("--path", choices=PATHS, default="one-pass",
                    help="one-pass (chunk_tokens=None) or default (generate's default chunking)")
    ap.add_argument("--worker", choices=sorted(VARIANTS), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return worker(args.worker, args.threads, args.path)
    if args.baseline is None or not (args.baseline / "luxtts" / "__init__.py").is_file():
        ap.error("--baseline must be a luxtts checkout (a folder holding luxtts/__init__.py)")
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown or args.rounds < 1:
        ap.error(f"unknown variants {unknown} (known: {', '.join(VARIANTS)}) or --rounds < 1")

    print(f"A = {args.baseline.resolve()}\nB = {ROOT}\n{args.threads} threads, {args.rounds} rounds, "
          f"W1 {args.path.replace('-', ' ')}")
    # int8 quantizes activations per tensor, so a last-bit change anywhere moves every quantization step:
    # two int8 runs that differ in rounding differ by about as much as int8 differs from float32 (~20 dB).
    # float32 therefore runs first, and A's float32 audio is the reference both sides' int8 and bfloat16 are
    # scored against; what has to match is B's figure against A's, not B against A directly.
    variants.sort(key=lambda v: v != "float32")
    summaries = []
    reference = None
    with tempfile.TemporaryDirectory(prefix="luxtts-ab-") as tmp:
        for variant in variants:
            summaries.append(compare(variant, args.baseline.resolve(), args.rounds, args.threads, args.profile,
                                     Path(tmp), reference, args.path))
            if variant == "float32":
                reference = summaries[-1]["audio_a"]
    print("\nvariant   A best / median (s)   B best / median (s)   B/A per round: median (range)   "
          "CPU-time B/A: median (range)   audio SNR B vs A   vs float32 A (A, B)")
    for s in summaries:
        r, c = s["ratios"], s["cpu_ratios"]
        print(f"{s['variant']:8s}  {min(s['A']):.3f} / {statistics.median(s['A']):.3f}        "
              f"{min(s['B']):.3f} / {statistics.median(s['B']):.3f}        "
              f"{statistics.median(r):.3f} ({min(r):.3f}-{max(r):.3f})            "
              f"{statistics.median(c):.3f} ({min(c):.3f}-{max(c):.3f})            {s['snr_db']:.1f} dB"
              + ("" if not s["ref_snr_db"] else f"      {s['ref_snr_db']['A']:.1f}, {s['ref_snr_db']['B']:.1f} dB"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
