"""Where one flow-matching decoder step spends its time, at given frame counts: the native int8 GEMMs by shape
(with their rate in GOPS), the other native kernels, and the rest (torch's ops and Python).

    python benchmarks/decoder_profile.py [--frames 16,667,1364] [--quantize int8|none] [--threads 2]
        [--repeat 5] [--top 12] [--size full|tiny]

One process, the bench's random weights ("full": the published model's shapes). For each frame count, the
step (velocity at t = 0.5 of random conditions and state) is timed on its own first, best of --repeat, then
again with each native call timed (ctypes calls, so torch.profiler does not see them). Rates count
2 x rows x in x out operations per GEMM, whatever its epilogue (the Swoosh tail, a residual, the output's
range). 667 frames is the stream's first chunk on W1 (469 prompt + 198 generated), 1364 W1 in one pass.
"""

from __future__ import annotations

import argparse
import collections
import time
from typing import Dict, Optional, Tuple

GemmKey = Tuple[int, int, int, str]


class Tally:
    """Calls, seconds and operations summed over the timed steps."""

    def __init__(self) -> None:
        self.calls = 0
        self.seconds = 0.0
        self.ops = 0.0

    def add(self, seconds: float, ops: float = 0.0) -> None:
        self.calls += 1
        self.seconds += seconds
        self.ops += ops

    @property
    def gops(self) -> float:
        return self.ops / self.seconds / 1e9 if self.seconds > 0 else 0.0


def gemm_key(rows: int, inputs: int, outputs: int, swoosh: bool, residual: bool) -> GemmKey:
    """A GEMM's shape and the epilogue it carries ("sw": the Swoosh tail, "res": a residual added)."""
    tail = "+".join(name for name, on in (("sw", swoosh), ("res", residual)) if on)
    return rows, inputs, outputs, tail


def gemm_ops(rows: int, inputs: int, outputs: int) -> float:
    return 2.0 * rows * inputs * outputs


def report(frames: int, step: float, gemms: Dict[GemmKey, Tally], kernels: Dict[str, Tally], steps: int,
           top: int) -> str:
    """The table for one frame count; the tallies hold `steps` timed steps."""
    lines = [f"frames {frames}: step {step * 1e3:.1f} ms (best, untimed calls)"]
    gemm_s = sum(t.seconds for t in gemms.values()) / steps
    if gemms:
        ops = sum(t.ops for t in gemms.values())
        rate = ops / (gemm_s * steps) / 1e9 if gemm_s > 0 else 0.0
        lines.append(f"  int8 GEMMs: {gemm_s * 1e3:.1f} ms a step ({gemm_s / step:.0%} of the step), "
                     f"{sum(t.calls for t in gemms.values()) // steps} calls, {rate:.0f} GOPS")
        for key, t in sorted(gemms.items(), key=lambda kv: -kv[1].seconds)[:top]:
            rows, k, n, tail = key
            lines.append(f"    {rows:>5} x {k:>4} -> {n:<5} {tail:<6} {t.calls // steps:>4} calls "
                         f"{t.seconds / steps * 1e3:7.2f} ms {t.gops:6.0f} GOPS")
    other_s = 0.0
    for name, t in sorted(kernels.items(), key=lambda kv: -kv[1].seconds):
        s = t.seconds / steps
        other_s += s
        lines.append(f"  {name}: {s * 1e3:.2f} ms a step, {t.calls // steps} calls")
    rest = step - gemm_s - other_s
    lines.append(f"  the rest (torch ops, Python): {rest * 1e3:.1f} ms ({rest / step:.0%})")
    return "\n".join(lines)


def _timed_library(library, kernels: Dict[str, Tally]):
    class Timed:
        def __getattr__(self, name):
            fn = getattr(library, name)
            if not name.startswith("luxtts_") or name == "luxtts_qlinear":
                return fn

            def call(*args):
                start = time.perf_counter()
                result = fn(*args)
                kernels.setdefault(name[len("luxtts_"):], Tally()).add(time.perf_counter() - start)
                return result
            return call
    return Timed()


def profile(frames_list, quantize: Optional[str], threads: int, repeat: int, top: int, size: str) -> None:
    import torch

    from luxtts import LuxTTS
    from luxtts.bench.random_model import random_model_folder
    from luxtts.runtime import native

    torch.set_num_threads(threads)
    tts = LuxTTS.from_pretrained(random_model_folder(size), device="cpu", quantize=quantize)
    model = tts.model
    feat = model.config.feat_dim
    found = native.kernels()
    gemms: Dict[GemmKey, Tally] = collections.defaultdict(Tally)
    kernels: Dict[str, Tally] = {}
    recording = [False]
    if found is not None:
        kernel_type = type(found)
        plain_qlinear = kernel_type.qlinear

        def qlinear(self, x, packed, out_features, col_sums, w_scales, bias, residual=None, **kw):
            start = time.perf_counter()
            result = plain_qlinear(self, x, packed, out_features, col_sums, w_scales, bias, residual, **kw)
            if recording[0]:
                rows, inputs = x.shape
                key = gemm_key(rows, inputs, out_features, kw.get("swoosh_slope") is not None, residual is not None)
                gemms[key].add(time.perf_counter() - start, gemm_ops(rows, inputs, out_features))
            return result

        kernel_type.qlinear = qlinear
        plain_library = found.library
    print(f"decoder step, {quantize or 'float32'}, {threads} thread(s), {size} random weights")
    for frames in frames_list:
        gen = torch.Generator().manual_seed(frames)
        text = torch.randn(1, frames, feat, generator=gen)
        speech = torch.randn(1, frames, feat, generator=gen)
        x = torch.randn(1, frames, feat, generator=gen)
        t = torch.tensor(0.5)
        with torch.inference_mode():
            velocity = model.velocity_fn(text, speech, None, 3.0)
            for _ in range(2):
                velocity(t, x)
            best = float("inf")
            for _ in range(repeat):
                start = time.perf_counter()
                velocity(t, x)
                best = min(best, time.perf_counter() - start)
            gemms.clear()
            kernels.clear()
            if found is not None:
                object.__setattr__(found, "library", _timed_library(plain_library, kernels))
            recording[0] = True
            try:
                for _ in range(repeat):
                    velocity(t, x)
            finally:
                recording[0] = False
                if found is not None:
                    object.__setattr__(found, "library", plain_library)
        print(report(frames, best, dict(gemms), kernels, repeat, top))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--frames", default="16,667,1364", help="comma-separated frame counts")
    p.add_argument("--quantize", choices=["int8", "none"], default="int8")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--top", type=int, default=12, help="GEMM shapes to list")
    p.add_argument("--size", choices=["full", "tiny"], default="full")
    args = p.parse_args(argv)
    try:
        frames = [int(f) for f in args.frames.split(",") if f.strip()]
    except ValueError:
        p.error(f"--frames must be comma-separated integers, got {args.frames!r}")
    if not frames or min(frames) < 1:
        p.error(f"--frames must be positive integers, got {args.frames!r}")
    if args.threads < 1 or args.repeat < 1:
        p.error("--threads and --repeat must be at least 1")
    profile(frames, None if args.quantize == "none" else args.quantize, args.threads, args.repeat, args.top,
            args.size)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
