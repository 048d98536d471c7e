"""Run a benchmark variant (and the plain fp32 eager baseline) each in a fresh process; combine the results."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Optional

from ..errors import LuxTTSError
from .workloads import PROMPT_TEXT, workload_text, write_prompt

BASELINE = {"quantize": None, "dtype": "float32"}


class BenchmarkError(LuxTTSError, RuntimeError):
    """A benchmark child process failed."""


def _child_env(threads: int) -> Dict[str, str]:
    from ..runtime.threads import thread_env

    env = {**os.environ, **thread_env(threads)}
    # OpenMP's wait policy is left as users have it (spinning, by default). PASSIVE, which this bench used to set
    # so that a busy neighbour hurt less, made an idle machine 1.5x slower (int8 W1 one pass 3.3-3.6 s against
    # 2.1-2.5 s, 2026-11-30): it measured something nobody runs.
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def run_child(spec: Dict[str, Any], timeout: Optional[float] = None) -> Dict[str, Any]:
    """``python -m luxtts.bench.child spec`` -> its JSON result (its last stdout line)."""
    proc = subprocess.run([sys.executable, "-m", "luxtts.bench.child", json.dumps(spec)], capture_output=True,
                          text=True, env=_child_env(spec["threads"]), timeout=timeout)
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        raise BenchmarkError(f"benchmark run {_label(spec)} failed (exit {proc.returncode}):\n{tail}")
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise BenchmarkError(f"benchmark run {_label(spec)} printed no result")
    return json.loads(lines[-1])


def _label(spec: Dict[str, Any]) -> str:
    parts = [spec.get("dtype") or "float32"]
    if spec.get("quantize"):
        parts.append(spec["quantize"])
    return "/".join(parts)


def _int8_engine(quantize: Optional[str]) -> Optional[str]:
    """The kernels the child's int8 weights are packed for (it runs in this environment, so it chooses the same)."""
    if quantize != "int8":
        return None
    from ..runtime import int8_engine

    return int8_engine()


def bench(model: Optional[str] = None, size: str = "full", workload: str = "w1", words: int = 2000,
          quantize: Optional[str] = None, dtype: str = "float32",
          threads: Optional[int] = None, steps: Optional[int] = None, repeat: int = 1, voice: Optional[str] = None,
          voice_text: Optional[str] = None, baseline: bool = True, count_flops: Optional[bool] = None,
          cache_dir: Optional[str] = None, quiet: bool = True,
          batch_frames: Optional[int] = None, paths: Optional[list] = None) -> Dict[str, Any]:
    """Measure one variant (and, unless ``baseline`` is False, plain fp32 eager) on one workload.

    Returns the variant's result with ``baseline``, ``speedup_vs_fp32_eager``, ``machine`` and GFLOP/s added.
    """
    from ..runtime.cpu import cpu_info, estimated_peak_gflops
    from ..runtime.threads import default_threads
    from .random_model import _default_cache, random_model_folder

    threads = threads or default_threads()
    engine = _int8_engine(quantize)  # a bad $LUXTTS_INT8_ENGINE is refused here, before any child starts
    cache = Path(cache_dir) if cache_dir else _default_cache()
    folder = str(Path(model).resolve()) if model else str(random_model_folder(size, cache))
    if voice is None:
        voice, voice_text = str(write_prompt(cache / "synthetic_prompt_5s.wav")), PROMPT_TEXT
    if count_flops is None:
        count_flops = workload == "w1"
    spec = {"model": folder, "workload": workload, "text": workload_text(workload, words), "voice": voice,
            "voice_text": voice_text, "threads": threads, "steps": steps, "repeat": repeat, "seed": 0,
            "cache_dir": str(cache), "quantize": quantize, "dtype": dtype, "quiet": quiet,
            "batch_frames": batch_frames, "paths": paths}
    is_baseline = quantize is None and dtype == "float32"
    can_count = is_baseline
    result = run_child({**spec, "count_flops": count_flops and can_count})
    base = None
    if baseline and not is_baseline:
        base = run_child({**spec, **BASELINE, "count_flops": count_flops and not can_count})
    flops = (result.get("flops") or (base or {}).get("flops") or {})
    info = cpu_info()
    peak_dtype = "int8" if quantize == "int8" else dtype
    result.update({
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "model_source": model or f"random-{size}",
        "variant": _label(spec),
        "int8_engine": engine,
        "machine": {**info.to_dict(), "threads": threads,
                    "estimated_peak_gflops_fp32": estimated_peak_gflops(info, threads, "float32"),
                    "estimated_peak_gflops_variant": estimated_peak_gflops(info, threads, peak_dtype)},
        "baseline": _brief(base) if base else None,
        "speedup_vs_fp32_eager": (base["seconds"] / result["seconds"]) if base else (1.0 if is_baseline else None),
    })
    result.update(_gflops(result, flops))
    if base:
        result["baseline"].update(_gflops(base, flops))
    return result


def _brief(r: Dict[str, Any]) -> Dict[str, Any]:
    keys = ("rtf", "seconds", "audio_seconds", "peak_rss_mb", "rss_after_load_mb", "stages", "decoder_steps",
            "frames", "ms_per_frame", "first_audio_s", "chunks", "paths")
    return {k: r.get(k) for k in keys}


def _gflops(r: Dict[str, Any], flops: Dict[str, Any]) -> Dict[str, Any]:
    """Achieved GFLOP/s over the whole run and over the decoder steps alone (model FLOPs, counted once)."""
    total = flops.get("total")
    decoder = (flops.get("per_stage") or {}).get("decoder")
    out = {"flops_total": total, "flops_decoder": decoder, "gflops_per_s": None, "decoder_gflops_per_s": None}
    if total and r.get("seconds"):
        out["gflops_per_s"] = total / r["seconds"] / 1e9
    dec_s = (r.get("stages") or {}).get("decoder")
    if decoder and dec_s:
        out["decoder_gflops_per_s"] = decoder / dec_s / 1e9
    return out
