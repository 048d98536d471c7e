"""``luxtts bench``: speed of the whole pipeline on a workload, each variant in its own process.

Light at import (argparse only): ``luxtts.cli`` imports it to build its parser.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HELP = "measure speed: RTF, time per stage, peak memory, GFLOP/s (random or given model)"

WORKLOADS = ("w1", "w2")
DTYPES = ("float32", "bfloat16", "float16")
PATHS = ("default", "one_pass", "stream")


def configure(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group()
    src.add_argument("--model", metavar="DIR", help="a model folder (LuxTTS or ZipVoice layout)")
    src.add_argument("--random-full", action="store_true",
                     help="random weights at the published dims (default; built once in the cache)")
    src.add_argument("--random-tiny", action="store_true", help="random weights, tiny dims (seconds; for CI)")
    p.add_argument("--workload", choices=WORKLOADS, default="w1",
                   help="w1: 5 s prompt + one ~30-word sentence; w2: long text")
    p.add_argument("--paths", nargs="+", choices=PATHS, default=None,
                   help="what to time, alternating in each round; the first is the headline. default: "
                        "generate_speech's defaults (chunked at 100 tokens, fewest chunks); one_pass: "
                        "chunk_tokens=None (upstream's single pass); stream: stream()'s defaults (short first "
                        "chunk), timed to first audio. Default: default one_pass stream (w1), default stream (w2)")
    p.add_argument("--words", type=int, default=2000, help="w2: words of text (default 2000)")
    p.add_argument("--batch-frames", type=int, default=None,
                   help="w2: frames per model call, batch x length (default: the pipeline's)")
    p.add_argument("--quantize", choices=["int8"], default=None, help="int8 weights for the linear layers")
    p.add_argument("--dtype", choices=DTYPES, default="float32", help="network precision (ODE state stays fp32)")
    p.add_argument("--threads", type=int, default=None, help="intra-op threads (default: available cores)")
    p.add_argument("--steps", type=int, default=None, help="sampling steps (default: the model's, 4 for LuxTTS)")
    p.add_argument("--repeat", type=int, default=1,
                   help="timed rounds after the warm-up run (each runs every path); the fastest and the range are reported")
    p.add_argument("--voice", metavar="WAV", help="prompt recording (default: a synthetic 5 s voiced signal)")
    p.add_argument("--voice-text", metavar="TEXT", help="transcript of --voice (required with --voice)")
    p.add_argument("--no-baseline", action="store_true",
                   help="skip the plain fp32 eager run that the speed-up is measured against")
    p.add_argument("--count-flops", choices=["auto", "yes", "no"], default="auto",
                   help="count FLOPs with an extra run (auto: for w1 only)")
    p.add_argument("--no-quiet-wait", action="store_true",
                   help="do not wait for other processes to leave the CPU idle before each timed run")
    p.add_argument("--cache-dir", metavar="DIR", help="where random models, prompts and exports are kept")
    p.add_argument("--json", metavar="PATH", help="write the full result as JSON ('-' for stdout)")


def run(args: argparse.Namespace) -> int:
    from ..errors import InvalidOptionError
    from .orchestrate import bench

    if args.voice and not args.voice_text:
        raise InvalidOptionError("--voice needs --voice-text (the words spoken in the recording)")
    if args.threads is not None and args.threads < 1:
        raise InvalidOptionError(f"--threads must be >= 1, got {args.threads}")
    if args.batch_frames is not None and args.batch_frames < 1:
        raise InvalidOptionError(f"--batch-frames must be >= 1, got {args.batch_frames}")
    if args.repeat < 1:
        raise InvalidOptionError(f"--repeat must be >= 1, got {args.repeat}")
    result = bench(
        model=args.model, size="tiny" if args.random_tiny else "full", workload=args.workload, words=args.words,
        quantize=args.quantize, dtype=args.dtype, threads=args.threads, steps=args.steps,
        repeat=args.repeat, voice=args.voice, voice_text=args.voice_text, baseline=not args.no_baseline,
        count_flops={"auto": None, "yes": True, "no": False}[args.count_flops], cache_dir=args.cache_dir,
        quiet=not args.no_quiet_wait, batch_frames=args.batch_frames, paths=args.paths,
    )
    from .report import summary

    if args.json == "-":
        print(json.dumps(result, indent=1))
    else:
        print(summary(result))
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=1), encoding="utf-8")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="luxtts bench", description=HELP)
    configure(p)
    return run(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
