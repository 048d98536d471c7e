"""``luxtts eval``: WER/CER, speaker similarity and RTF of a model's settings (or of given wavs) on a list.

Light at import (argparse only): ``luxtts.cli`` imports it to build its parser.
"""

from __future__ import annotations

import argparse
import sys

HELP = "measure intelligibility (WER), speaker similarity and speed on a Seed-TTS-eval style list"


def configure(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group()
    src.add_argument("--model", metavar="M", help="model folder or Hugging Face repo id to synthesize with "
                     "(default: $LUXTTS_MODEL, else the published LuxTTS)")
    src.add_argument("--audio", metavar="DIR", help="score existing wavs named <id>.wav in DIR instead of synthesizing")
    p.add_argument("--list", required=True, metavar="LIST",
                   help="items: lines of id|prompt_text|prompt_wav|target_text (Seed-TTS-eval), or .jsonl with "
                        "those keys; relative wav paths are read from the list's folder; empty prompt_text = ASR")
    p.add_argument("-o", "--out", required=True, metavar="DIR",
                   help="output folder: items.jsonl, summary.md, summary.json, wer_sim.png, rtf.png, audio/ "
                        "(a rerun into the same folder resumes)")
    p.add_argument("--variants", default="fp32", metavar="V,V",
                   help="precision variants, comma-separated: fp32, int8 (CPU), bf16, fp16 (default fp32)")
    p.add_argument("--steps", default=None, metavar="N,N", help="sampling step counts (default: the model's)")
    p.add_argument("--asr", default="auto", choices=["auto", "faster-whisper", "transformers", "pocketsphinx"],
                   help="speech recognition backend (auto: Whisper when its weights load, else pocketsphinx)")
    p.add_argument("--asr-model", metavar="NAME", help="Whisper size or path for the Whisper backends (default tiny "
                   "on the CPU, base on a GPU; large-v3 is the usual choice for published numbers)")
    p.add_argument("--speaker", default="resemblyzer", choices=["resemblyzer", "wavlm"],
                   help="speaker-embedding backend for SIM (default resemblyzer: offline)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default auto)")
    p.add_argument("--threads", type=int, default=None, help="intra-op threads (default: the library's)")
    p.add_argument("--seed", type=int, default=0, help="noise seed, the same for every item and setting (default 0)")
    p.add_argument("--prompt-duration", type=float, default=None, metavar="SEC",
                   help="seconds of each prompt recording to use (default: all of it; its transcript must match)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..errors import InvalidOptionError
    from .items import read_list
    from .runner import Settings, parse_configs, run_eval

    if args.threads is not None and args.threads < 1:
        raise InvalidOptionError(f"--threads must be >= 1, got {args.threads}")
    if args.prompt_duration is not None and not args.prompt_duration > 0:
        raise InvalidOptionError(f"--prompt-duration must be > 0 seconds, got {args.prompt_duration}")
    audio = Path(args.audio).expanduser() if args.audio else None
    if audio is not None and not audio.is_dir():
        raise InvalidOptionError(f"--audio {audio}: not a folder")
    if audio is not None and (args.variants != "fp32" or args.steps):
        raise InvalidOptionError("--variants and --steps choose how to synthesize; --audio scores existing files")
    model = None
    if audio is None:
        from ..commands.common import default_model

        model = args.model or default_model()
    out = Path(args.out).expanduser()
    if out.exists() and not out.is_dir():
        raise InvalidOptionError(f"-o {out}: exists and is not a folder")
    settings = Settings(
        items=read_list(args.list), out_dir=out, model=model, configs=parse_configs(args.variants, args.steps),
        audio_dir=audio, asr=args.asr, asr_model=args.asr_model, speaker=args.speaker, device=args.device,
        threads=args.threads, seed=args.seed, prompt_duration=args.prompt_duration, progress=not args.no_progress,
    )
    summary = run_eval(settings)
    from .report import markdown

    print(markdown(summary), end="")
    print(f"results in {out}")
    if summary["failed"]:
        print(f"luxtts eval: {len(summary['failed'])} item(s) failed; see summary.md", file=sys.stderr)
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="luxtts eval", description=HELP)
    configure(p)
    return run(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
