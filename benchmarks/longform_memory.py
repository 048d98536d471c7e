"""The memory curve of a long ``luxtts speak`` job: RSS against chunks done, sampled from outside.

    python benchmarks/longform_memory.py --model DIR --voice REF.wav --voice-text "..." [--words 110000]
    python benchmarks/longform_memory.py --words 3000     # the golden test model and recording (no download)

Runs ``luxtts speak -f <generated text> -o <tmp>/book.wav`` in a child process and prints, every
``--every`` seconds, the child's current RSS (/proc/PID/status, Linux), its peak so far, the chunks finished
(read from the job's ``.partial.json``) and the audio seconds written. A flat RSS column after the first
chunks is what "a 10-hour book on this machine" needs (110,000 words is about 10 hours of speech).
Extra arguments after ``--`` go to ``luxtts speak`` (e.g. ``-- --quantize int8 --steps 4``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from luxtts.bench.workloads import w2_text  # noqa: E402 - the bench's long text, after the path is set


def rss_mb(pid: int) -> tuple:
    """(current, peak) resident memory of ``pid`` in MB."""
    fields = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            fields[key] = value.split()
    return int(fields["VmRSS"][0]) / 1024, int(fields["VmHWM"][0]) / 1024


def golden_defaults() -> tuple:
    sys.path.insert(0, str(REPO / "tests"))
    from golden_model import build_luxtts_folder, pipeline_cases, prompt_wav

    folder = build_luxtts_folder(Path(tempfile.mkdtemp(prefix="luxtts-model-")))
    return str(folder), str(prompt_wav()), pipeline_cases()[0]["prompt_text"]


def main() -> int:
    argv = sys.argv[1:]
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", help="model folder (default: the golden test model)")
    p.add_argument("--voice", help="reference recording (default: the golden test recording)")
    p.add_argument("--voice-text", help="its transcript")
    p.add_argument("--words", type=int, default=110000, help="words of text (default: 110000, about 10 h)")
    p.add_argument("--every", type=float, default=10.0, help="seconds between samples (default: 10)")
    args = p.parse_args(argv)
    model, voice, voice_text = args.model, args.voice, args.voice_text
    if model is None:
        model, default_voice, default_text = golden_defaults()
        voice, voice_text = voice or default_voice, voice_text or default_text
    work = Path(tempfile.mkdtemp(prefix="luxtts-longform-"))
    (work / "book.txt").write_text(w2_text(args.words), encoding="utf-8")
    out = work / "book.wav"
    cmd = [sys.executable, "-m", "luxtts", "speak", "-f", str(work / "book.txt"), "--voice", voice,
           "-o", str(out), "--quiet", *(["--voice-text", voice_text] if voice_text else []), *extra]
    if model:
        cmd += ["--model", model]
    env = {**os.environ, "PYTHONPATH": str(REPO), "LUXTTS_HOME": str(work / "home")}
    child = subprocess.Popen(cmd, env=env)
    start = time.monotonic()
    print(f"{'seconds':>8} {'RSS MB':>8} {'peak MB':>8} {'chunks':>11} {'audio s':>9}", flush=True)
    try:
        while child.poll() is None:
            try:
                now, peak = rss_mb(child.pid)
                state = json.loads((work / "book.wav.partial.json").read_text())
            except (OSError, ValueError):
                time.sleep(0.5)
                continue
            rate = state["settings"]["sample_rate"]
            print(f"{time.monotonic() - start:8.0f} {now:8.0f} {peak:8.0f} "
                  f"{state['chunks_done']:>5}/{state['chunks_total'] or '?':<5} {state['frames'] / rate:9.1f}",
                  flush=True)
            time.sleep(args.every)
    except KeyboardInterrupt:
        child.terminate()
        child.wait()
        print(f"interrupted; the partial job is in {work} (resume with luxtts speak ... --resume)")
        return 130
    print(f"exit code {child.returncode}; output {out} ({out.stat().st_size / 1e6:.0f} MB)"
          if out.exists() else f"exit code {child.returncode}")
    return child.returncode


if __name__ == "__main__":
    sys.exit(main())
