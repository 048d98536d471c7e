"""Human-readable summaries of benchmark results."""

from __future__ import annotations

from typing import Any, Dict, List


def _f(x, fmt="{:.3f}") -> str:
    return "-" if x is None else fmt.format(x)


def summary(r: Dict[str, Any]) -> str:
    m = r.get("machine", {})
    lines: List[str] = [
        f"luxtts bench  {r.get('date', '')}  {r.get('model_source')}  workload {r['spec']['workload']}"
        f"  variant {r.get('variant')}" + (f" ({r['int8_engine']} kernels)" if r.get("int8_engine") else "")
        + f"  threads {m.get('threads')}",
        f"cpu: {m.get('model_name')} ({m.get('microarch')}, {m.get('isa')}), {m.get('cores')} cores, "
        f"nominal {_f(m.get('nominal_mhz'), '{:.0f}')} MHz; estimated peak fp32 "
        f"{_f(m.get('estimated_peak_gflops_fp32'), '{:.0f}')} GFLOP/s",
    ]
    paths = r.get("paths") or {}
    head = r.get("path", "default")
    for name, p in paths.items():
        lines.append(_path_line(name, p, r.get("prompt_frames"), headline=name == head))
    if not paths:
        lines.append(f"audio {r['audio_seconds']:.2f} s in {r['seconds']:.2f} s  ->  RTF {r['rtf']:.3f}")
    if "default" in paths and "one_pass" in paths:
        d, o = paths["default"], paths["one_pass"]
        lines.append(f"default / one pass: {d['seconds'] / o['seconds']:.2f}x the time, "
                     f"{d['ms_per_frame'] / o['ms_per_frame']:.2f}x the time per frame")
    lines.append(f"peak RSS {r['peak_rss_mb']:.0f} MB generating ({head}); {_f(r.get('load_peak_rss_mb'), '{:.0f}')} "
                 f"MB through load and warm-up; {r.get('rss_after_load_mb', 0):.0f} MB after load")
    st = r.get("stages", {})
    lines.append(f"stages, {head} (s): " + "  ".join(f"{k} {v:.3f}" for k, v in st.items()))
    steps = r.get("decoder_steps") or []
    if steps and len(steps) <= 16:
        lines.append("decoder steps (s): " + " ".join(f"{s:.3f}" for s in steps))
    elif steps:
        lines.append(f"decoder steps: {len(steps)} calls, mean {sum(steps) / len(steps):.3f} s")
    if r.get("gflops_per_s"):
        lines.append(f"achieved: {r['gflops_per_s']:.0f} GFLOP/s overall, "
                     f"{_f(r.get('decoder_gflops_per_s'), '{:.0f}')} GFLOP/s in the decoder "
                     f"({r['flops_total'] / 1e9:.0f} GFLOP counted)")
    cs = r.get("cold_start", {})
    lines.append(f"cold start: import {cs.get('import_s', 0):.2f} s, load {cs.get('load_s', 0):.2f} s, "
                 f"prompt {cs.get('prompt_encode_s', 0):.2f} s, first audio {cs.get('first_audio_s', 0):.2f} s")
    b = r.get("baseline")
    if b:
        lines.append(f"baseline fp32 eager ({head}): RTF {b['rtf']:.3f}, {_f(b.get('ms_per_frame'), '{:.2f}')} ms per "
                     f"frame, peak RSS {b['peak_rss_mb']:.0f} MB; speed-up {r['speedup_vs_fp32_eager']:.2f}x")
    return "\n".join(lines)



_LABELS = {
    "default": "default path (generate_speech's defaults: chunks of <= 100 tokens, fewest chunks)",
    "one_pass": "one pass (chunk_tokens=None, upstream's single pass)",
    "stream": "stream (stream()'s defaults: a short first chunk)",
}


def _path_line(name: str, p: Dict[str, Any], prompt_frames, headline: bool) -> str:
    def rng(key, fmt):
        lo_hi = p.get(f"{key}_range")
        return f" ({fmt.format(lo_hi[0])}-{fmt.format(lo_hi[1])})" if lo_hi and p.get("runs", 1) > 1 else ""

    mark = "* " if headline else "  "
    line = (f"{mark}{_LABELS.get(name, name)}: {p['chunks']} chunk(s) {p.get('chunk_tokens')} tokens; "
            f"audio {p['audio_seconds']:.2f} s in {p['seconds']:.2f} s{rng('seconds', '{:.2f}')}, "
            f"RTF {p['rtf']:.3f}{rng('rtf', '{:.3f}')}; {p['frames']} frames (prompt {prompt_frames} per chunk), "
            f"{p['ms_per_frame']:.2f}{rng('ms_per_frame', '{:.2f}')} ms per frame; "
            f"first audio {_f(p.get('first_audio_s'), '{:.2f}')} s{rng('first_audio_s', '{:.2f}')}; "
            f"peak RSS {p['peak_rss_mb']:.0f} MB")
    return line
