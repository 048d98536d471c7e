"""One measured benchmark run, in its own process so that its peak RSS is its own.

    python -m luxtts.bench.child '<json spec>'   -> prints one JSON line (the result) last on stdout

The spec is built by :mod:`luxtts.bench.cli`; see :func:`run`.
"""

from __future__ import annotations

import time

_T_START = time.perf_counter()

import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Dict  # noqa: E402


def _rss_mb() -> float:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024.0 if sys.platform != "darwin" else peak / 2**20


def _current_rss_mb() -> float:
    try:
        pages = int(open("/proc/self/statm").read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError):
        return float("nan")


def run(spec: Dict[str, Any]) -> Dict[str, Any]:
    """Load, warm up (= first audio), time ``spec["repeat"]`` generations, optionally count FLOPs."""
    from ..pipeline import LuxTTS
    from ..runtime.threads import configure_threads
    from .instrument import Stages

    configure_threads(spec["threads"])
    t_import = time.perf_counter() - _T_START

    t0 = time.perf_counter()
    tts = LuxTTS.from_pretrained(spec["model"], device="cpu", dtype=spec.get("dtype"), threads=spec["threads"],
                                 quantize=spec.get("quantize"))
    t_load = time.perf_counter() - t0
    rss_loaded = _current_rss_mb()

    t0 = time.perf_counter()
    prompt = tts.encode_prompt(spec["voice"], duration=spec.get("prompt_seconds", 5.0), rms=0.01,
                               text=spec["voice_text"])
    t_prompt = time.perf_counter() - t0

    stages = Stages()
    stages.attach(tts)
    chunk_tokens = None if spec["workload"] == "w1" else spec.get("chunk_tokens", 100)
    out_dir = Path(tempfile.mkdtemp(prefix="luxtts-bench-"))
    try:
        return _measure(spec, tts, prompt, stages, chunk_tokens, out_dir,
                        {"import_s": t_import, "load_s": t_load, "prompt_encode_s": t_prompt}, rss_loaded)
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)


def _measure(spec, tts, prompt, stages, chunk_tokens, out_dir: Path, cold: Dict[str, float],
             rss_loaded: float) -> Dict[str, Any]:
    import torch

    from .quiet import measure
    from .workloads import W1_TEXT

    def generate():
        return tts.generate(spec["text"], prompt, num_steps=spec.get("steps"), seed=spec.get("seed", 0),
                            chunk_tokens=chunk_tokens, batch_frames=spec.get("batch_frames"))

    def one_run(index: int) -> Dict[str, Any]:
        """A timed generation + write; retried (up to 3 times) when other processes took CPU meanwhile."""
        quiet = spec.get("quiet", True)
        out, _, foreign = measure(lambda: _timed_run(index), tries=3 if quiet else 1, wait=quiet)
        out["foreign_load"] = foreign
        return out

    def _timed_run(index: int, text=None) -> Dict[str, Any]:
        """Speak ``text`` with stream() and write each piece as it comes, as a long-form user would: memory
        stays flat in the text length (generate() would hold the whole waveform). Same compute as generate()."""
        import soundfile as sf

        stages.reset()
        timings: Dict[str, float] = {}
        chunks: list = []
        write_s = 0.0
        samples = 0
        t_start = time.perf_counter()
        with sf.SoundFile(str(out_dir / f"run{index}.wav"), "w", samplerate=tts.sample_rate, channels=1,
                          subtype="PCM_16") as out:
            for piece in tts.stream(text or spec["text"], prompt, num_steps=spec.get("steps"),
                                    seed=spec.get("seed", 0), chunk_tokens=chunk_tokens, timings=timings,
                                    batch_frames=spec.get("batch_frames"),
                                    chunk_infos=chunks):
                t0 = time.perf_counter()
                out.write(piece.numpy())
                write_s += time.perf_counter() - t0
                samples += piece.shape[-1]
        t_end = time.perf_counter()
        seconds = t_end - t_start
        audio_seconds = samples / tts.sample_rate
        st = dict(stages.seconds)
        stage = {
            "frontend": timings.get("text", 0.0),
            "text_encoder": st.get("text_encoder", 0.0),
            "decoder": st.get("decoder", 0.0),
            "acoustic_other": max(0.0, timings.get("acoustic", 0.0) - st.get("text_encoder", 0.0)
                                  - st.get("decoder", 0.0)),
            "vocoder": st.get("vocoder", 0.0),
            "write": write_s,
        }
        stage["other"] = max(0.0, seconds - sum(stage.values()))
        return {"seconds": seconds, "audio_seconds": audio_seconds, "rtf": seconds / audio_seconds,
                "stages": stage, "decoder_steps": list(stages.steps), "chunks": len(chunks),
                "rss_mb_after": _current_rss_mb()}

    t0 = time.perf_counter()
    # The warm-up (= time to first audio) speaks W1's sentence whatever the workload: long texts need no
    # second full pass to warm up.
    first = _timed_run(0, W1_TEXT)
    t_first = time.perf_counter() - t0
    runs = [one_run(i + 1) for i in range(spec.get("repeat", 1))]
    best = min(runs, key=lambda r: r["seconds"])
    peak_rss = _rss_mb()  # before FLOP counting, which is not part of a user's run

    flops = None
    if spec.get("count_flops"):
        from .flops import count_flops

        stages.reset()
        total, per_op = count_flops(generate, stages)
        flops = {"total": total, "per_op": per_op, "per_stage": dict(stages.flops)}

    result = {
        "spec": {k: v for k, v in spec.items() if k != "text"},
        "text_words": len(spec["text"].split()),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cold_start": {**cold, "first_audio_s": t_first},
        "rss_after_load_mb": rss_loaded,
        "peak_rss_mb": peak_rss,
        "runs": runs,
        "first_run": first,
        "flops": flops,
        **{k: best[k] for k in ("seconds", "audio_seconds", "rtf", "stages", "decoder_steps", "chunks",
                                 "foreign_load")},
    }
    return result


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    spec = json.loads(argv[0])
    result = run(spec)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
