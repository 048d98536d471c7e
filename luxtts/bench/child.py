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


def _hwm_mb() -> float:
    """Peak RSS since the last :func:`_reset_hwm` (Linux VmHWM), else the process's peak so far."""
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except (OSError, ValueError):
        pass
    return _rss_mb()


def _reset_hwm() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current RSS (Linux >= 4.0)
    except OSError:
        pass


# What each measured path runs. "default" is what generate_speech / generate do with default options (the text
# chunked at 100 tokens into the fewest chunks); "one_pass" is upstream's single pass (chunk_tokens=None);
# "stream" is LuxTTS.stream with its defaults (a short first chunk), timed to its first audio.
PATHS = {
    "default": {"chunk_policy": "fewest"},  # generate()'s policy; stream() is what generate() runs
    "one_pass": {"chunk_tokens": None},
    "stream": {},
}


def run(spec: Dict[str, Any]) -> Dict[str, Any]:
    """Load, warm up (= cold first audio), time ``spec["repeat"]`` rounds of every path, optionally count FLOPs."""
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
    out_dir = Path(tempfile.mkdtemp(prefix="luxtts-bench-"))
    try:
        return _measure(spec, tts, prompt, stages, out_dir,
                        {"import_s": t_import, "load_s": t_load, "prompt_encode_s": t_prompt}, rss_loaded)
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)


def _measure(spec, tts, prompt, stages, out_dir: Path, cold: Dict[str, float], rss_loaded: float) -> Dict[str, Any]:
    import torch

    from .quiet import measure
    from .workloads import W1_TEXT

    paths = spec.get("paths") or (["default", "one_pass", "stream"] if spec["workload"] == "w1"
                                  else ["default", "stream"])

    def text_of(path: str) -> str:
        return W1_TEXT if path == "stream" else spec["text"]  # first audio is measured on W1's sentence

    def generate():
        return tts.generate(spec["text"], prompt, num_steps=spec.get("steps"), seed=spec.get("seed", 0),
                            batch_frames=spec.get("batch_frames"), **PATHS[paths[0]])

    def one_run(path: str, index: int) -> Dict[str, Any]:
        """A timed generation + write; retried (up to 3 times) when other processes took CPU meanwhile."""
        quiet = spec.get("quiet", True)
        _reset_hwm()
        out, _, foreign = measure(lambda: _timed_run(path, index), tries=3 if quiet else 1, wait=quiet)
        out["foreign_load"] = foreign
        out["peak_rss_mb"] = _hwm_mb()
        return out

    def _timed_run(path: str, index: int) -> Dict[str, Any]:
        """Speak with stream() and write each piece as it comes, as a long-form user would: memory stays flat
        in the text length (generate() would hold the whole waveform). Same compute as generate()."""
        import soundfile as sf

        stages.reset()
        timings: Dict[str, float] = {}
        chunks: list = []
        write_s = 0.0
        samples = 0
        first_audio = None
        t_start = time.perf_counter()
        with sf.SoundFile(str(out_dir / f"run{index}.wav"), "w", samplerate=tts.sample_rate, channels=1,
                          subtype="PCM_16") as out:
            for piece in tts.stream(text_of(path), prompt, num_steps=spec.get("steps"),
                                    seed=spec.get("seed", 0), timings=timings,
                                    batch_frames=spec.get("batch_frames"), chunk_infos=chunks, **PATHS[path]):
                if first_audio is None:
                    first_audio = time.perf_counter() - t_start
                t0 = time.perf_counter()
                out.write(piece.numpy())
                write_s += time.perf_counter() - t0
                samples += piece.shape[-1]
        seconds = time.perf_counter() - t_start
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
        # The unit of work: every pass carries the prompt's frames through the decoder again.
        frames = sum(prompt.num_frames + c.frames for c in chunks)
        return {"seconds": seconds, "audio_seconds": audio_seconds, "rtf": seconds / audio_seconds,
                "first_audio_s": first_audio, "frames": frames, "ms_per_frame": 1000.0 * seconds / frames,
                "stages": stage, "decoder_steps": list(stages.steps), "chunks": len(chunks),
                "chunk_tokens": [c.tokens for c in chunks], "rss_mb_after": _current_rss_mb()}

    t0 = time.perf_counter()
    first = _timed_run("stream", 0)  # warm-up; its first audio is a cold start's
    t_first = time.perf_counter() - t0
    load_peak = _rss_mb()  # load + warm-up, before the per-path peaks are reset
    rounds: Dict[str, list] = {p: [] for p in paths}
    for r in range(spec.get("repeat", 1)):
        # Alternate the paths within each round (and rotate who goes first): a noisy host then disturbs
        # every path alike, and the ratios between paths hold better than their absolute times.
        for k in range(len(paths)):
            path = paths[(r + k) % len(paths)]
            rounds[path].append(one_run(path, len(rounds[path]) + 1))
    summary = {p: _path_summary(runs) for p, runs in rounds.items()}
    head = summary[paths[0]]

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
        "prompt_frames": prompt.num_frames,
        "cold_start": {**cold, "first_audio_s": first["first_audio_s"], "warmup_s": t_first},
        "rss_after_load_mb": rss_loaded,
        "load_peak_rss_mb": load_peak,
        "path": paths[0],
        "paths": summary,
        "first_run": first,
        "flops": flops,
        **{k: head[k] for k in ("seconds", "audio_seconds", "rtf", "stages", "decoder_steps", "chunks",
                                 "chunk_tokens", "frames", "ms_per_frame", "peak_rss_mb", "foreign_load",
                                 "first_audio_s")},
    }
    if "stream" in summary:  # time to first audio is the streaming caller's figure
        result["first_audio_s"] = summary["stream"]["first_audio_s"]
    return result


def _path_summary(runs: list) -> Dict[str, Any]:
    """The fastest run of a path, with the range of every run's seconds, RTF and ms per frame."""
    best = dict(min(runs, key=lambda r: r["seconds"]))
    for key in ("seconds", "rtf", "ms_per_frame", "first_audio_s"):
        values = [r[key] for r in runs if r[key] is not None]
        best[f"{key}_range"] = [min(values), max(values)] if values else None
    best["peak_rss_mb"] = max(r["peak_rss_mb"] for r in runs)
    best["runs"] = len(runs)
    return best


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    spec = json.loads(argv[0])
    result = run(spec)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
