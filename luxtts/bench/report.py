"""Human-readable summaries of benchmark results."""

from __future__ import annotations

from typing import Any, Dict, List


def _f(x, fmt="{:.3f}") -> str:
    return "-" if x is None else fmt.format(x)


def summary(r: Dict[str, Any]) -> str:
    m = r.get("machine", {})
    lines: List[str] = [
        f"luxtts bench  {r.get('date', '')}  {r.get('model_source')}  workload {r['spec']['workload']}"
        f"  variant {r.get('variant')}  threads {m.get('threads')}",
        f"cpu: {m.get('model_name')} ({m.get('microarch')}, {m.get('isa')}), {m.get('cores')} cores, "
        f"nominal {_f(m.get('nominal_mhz'), '{:.0f}')} MHz; estimated peak fp32 "
        f"{_f(m.get('estimated_peak_gflops_fp32'), '{:.0f}')} GFLOP/s",
        f"audio {r['audio_seconds']:.2f} s in {r['seconds']:.2f} s  ->  RTF {r['rtf']:.3f}"
        f"   peak RSS {r['peak_rss_mb']:.0f} MB (after load {r.get('rss_after_load_mb', 0):.0f} MB)",
    ]
    st = r.get("stages", {})
    lines.append("stages (s): " + "  ".join(f"{k} {v:.3f}" for k, v in st.items()))
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
        lines.append(f"baseline fp32 eager: RTF {b['rtf']:.3f}, peak RSS {b['peak_rss_mb']:.0f} MB;"
                     f" speed-up {r['speedup_vs_fp32_eager']:.2f}x")
    return "\n".join(lines)

