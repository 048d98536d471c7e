"""``luxtts train``: prepare data, fit, distill, export. Light at import (argparse only): ``luxtts.cli``
imports it to build its parser; torch and the training code load when a command runs."""

from __future__ import annotations

import argparse

HELP = "train, fine-tune and distill models (prepare, fit, distill, export; needs the [train] extra)"


def configure(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(title="train commands", metavar="ACTION", parser_class=type(p))
    prep = sub.add_parser("prepare", help="recordings + transcripts -> feature shards and an index",
                          description="Resample, compute the inference log-mel features and tokens of every "
                                      "utterance, and write feature shards with an index of durations.")
    prep.add_argument("data", help="a JSONL manifest, a folder of x.wav + x.txt, or an LJSpeech metadata.csv")
    prep.add_argument("out", help="output folder (must not exist unless --overwrite)")
    prep.add_argument("--lang", default="en", help="en/zh: the Emilia tokenizer (as inference); else an espeak-ng voice")
    prep.add_argument("--tokens", metavar="TXT", help="tokens.txt of the model to train: report unknown tokens")
    prep.add_argument("--min-seconds", type=float, default=0.5, help="skip shorter utterances (seconds)")
    prep.add_argument("--max-seconds", type=float, default=30.0, help="skip longer utterances (seconds)")
    prep.add_argument("--shard-utterances", type=int, default=256, help="utterances per shard file")
    prep.add_argument("--valid-count", type=int, default=0, help="utterances held out for validation loss")
    prep.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    prep.add_argument("--quiet", action="store_true", help="no progress bar")
    prep.set_defaults(run=_run_prepare)

    for name, help_text in (("fit", "flow-matching training or fine-tuning (torchrun for several processes)"),
                            ("distill", "distil to the few-step student: --stage 1 (CFG teacher) or 2 (EMA teacher)")):
        q = sub.add_parser(name, help=help_text, description=help_text[0].upper() + help_text[1:] + ".")
        q.add_argument("data", help="a folder written by `luxtts train prepare`")
        q.add_argument("out", help="run folder (checkpoints/, tensorboard/, final/); an existing run resumes")
        _train_args(q, distill=name == "distill")
        q.set_defaults(run=_run_fit)

    exp = sub.add_parser("export", help="a checkpoint (or a run's latest) -> a model folder `luxtts speak` loads",
                         description="Write a checkpoint as a model folder that LuxTTS.from_pretrained and "
                                     "luxtts speak --model load (safetensors, config.json, tokens.txt, vocoder).")
    exp.add_argument("checkpoint", help="checkpoints/step-N folder, or a run folder")
    exp.add_argument("out", help="output model folder")
    exp.add_argument("--weights", choices=["ema", "model"], default="ema", help="the EMA weights or the raw ones")
    exp.add_argument("--vocoder", metavar="DIR", help="vocoder folder (default: the base model's vocoder/)")
    exp.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    exp.set_defaults(run=_run_export)


def _train_args(q: argparse.ArgumentParser, distill: bool) -> None:
    from_ = q.add_argument_group("model")
    from_.add_argument("--init", metavar="DIR", help="model folder to start from (LuxTTS / ZipVoice layout)")
    from_.add_argument("--model-config", metavar="JSON", help="config.json of a new model (with --tokens)")
    from_.add_argument("--tokens", metavar="TXT", help="tokens.txt of a new model")
    from_.add_argument("--freeze", action="append", default=[], metavar="PREFIX",
                       help="keep parameters under this name fixed (repeatable), e.g. text_encoder")
    from_.add_argument("--no-add-tokens", action="store_true",
                       help="do not append the data's unknown tokens to the vocabulary")
    if distill:
        from_.add_argument("--stage", type=int, choices=[1, 2], required=True,
                           help="1: a fixed CFG teacher (the base model); 2: an EMA teacher (the stage-1 student)")
        from_.add_argument("--teacher", metavar="DIR", help="stage 1: the base ZipVoice model (real CFG)")
    d = TrainDefaults
    opt = q.add_argument_group("optimisation")
    opt.add_argument("--steps", type=int, default=d.steps, help="optimiser steps in all")
    opt.add_argument("--lr", type=float, default=d.lr, help="peak learning rate (AdamW)")
    opt.add_argument("--weight-decay", type=float, default=d.weight_decay, help="AdamW weight decay")
    opt.add_argument("--warmup-steps", type=int, default=d.warmup_steps, help="linear warm-up steps")
    opt.add_argument("--decay", choices=["cosine", "linear", "constant"], default=d.decay,
                     help="learning-rate shape after the warm-up")
    opt.add_argument("--min-lr-ratio", type=float, default=d.min_lr_ratio, help="final lr as a fraction of --lr")
    opt.add_argument("--grad-clip", type=float, default=d.grad_clip, help="clip the gradient norm to this (0: off)")
    opt.add_argument("--accumulate", type=int, default=d.accumulate, help="micro-batches per optimiser step")
    opt.add_argument("--max-frames", type=int, default=d.max_frames, help="frame budget of one micro-batch")
    opt.add_argument("--ema-decay", type=float, default=d.ema_decay, help="decay of the EMA weights")
    opt.add_argument("--condition-drop-ratio", type=float, default=d.condition_drop_ratio,
                     help="share of utterances trained without text condition (for guidance)")
    opt.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default=d.precision,
                     help="autocast precision (bf16/fp16 on a GPU)")
    opt.add_argument("--device", default=d.device, help="cpu, cuda or cuda:N (torchrun sets one per process)")
    opt.add_argument("--seed", type=int, default=d.seed, help="seed of every random draw (resume is exact)")
    run = q.add_argument_group("logging and checkpoints")
    run.add_argument("--log-every", type=int, default=d.log_every, help="log every N steps")
    run.add_argument("--valid-every", type=int, default=d.valid_every, help="validation loss every N steps (0: off)")
    run.add_argument("--save-every", type=int, default=d.save_every, help="checkpoint every N steps")
    run.add_argument("--keep", type=int, default=d.keep, help="checkpoints kept")
    run.add_argument("--no-tensorboard", action="store_true", help="no TensorBoard event files")


class TrainDefaults:
    # Mirrors TrainConfig's defaults without importing it (and torch) when the parser is built.
    steps, lr, weight_decay, warmup_steps, decay, min_lr_ratio = 1000, 1e-4, 0.01, 100, "cosine", 0.1
    grad_clip, accumulate, max_frames, ema_decay, condition_drop_ratio = 1.0, 1, 4000, 0.999, 0.2
    precision, device, seed, log_every, valid_every, save_every, keep = "fp32", "cpu", 0, 10, 0, 500, 3


def _run_prepare(args: argparse.Namespace) -> int:
    from .data import PrepareOptions, prepare

    report = prepare(args.data, args.out, PrepareOptions(
        lang=args.lang, tokens=args.tokens, min_seconds=args.min_seconds, max_seconds=args.max_seconds,
        shard_utterances=args.shard_utterances, valid_count=args.valid_count, overwrite=args.overwrite,
        progress=not args.quiet))
    print(f"kept {report.kept} utterances ({report.frames} frames, {report.valid} held out), "
          f"skipped {len(report.skipped)} (see {args.out}/report.json)")
    for row in report.skipped[:10]:
        print(f"  skipped {row['id']}: {row['reason']}")
    if report.unknown_tokens:
        print(f"  {len(report.unknown_tokens)} token(s) not in {args.tokens}: fit appends them as new embeddings")
    return 0


def _run_fit(args: argparse.Namespace) -> int:
    from .config import TrainConfig
    from .loop import fit

    stage = f"distill{args.stage}" if hasattr(args, "stage") else "fm"
    cfg = TrainConfig(
        data=args.data, out=args.out, init=args.init, model_config=args.model_config, tokens=args.tokens,
        stage=stage, teacher=getattr(args, "teacher", None), add_tokens=not args.no_add_tokens,
        freeze=tuple(args.freeze), steps=args.steps, lr=args.lr, weight_decay=args.weight_decay,
        warmup_steps=args.warmup_steps, decay=args.decay, min_lr_ratio=args.min_lr_ratio, grad_clip=args.grad_clip,
        accumulate=args.accumulate, max_frames=args.max_frames, ema_decay=args.ema_decay,
        condition_drop_ratio=args.condition_drop_ratio, seed=args.seed, log_every=args.log_every,
        valid_every=args.valid_every, save_every=args.save_every, keep=args.keep, precision=args.precision,
        device=args.device, tensorboard=not args.no_tensorboard,
    )
    result = fit(cfg)
    try:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()
    except ImportError:
        pass
    return 0 if result.step >= cfg.steps else 1


def _run_export(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..errors import InvalidOptionError
    from .loop import export_checkpoint

    if Path(args.out).exists() and not args.overwrite:
        raise InvalidOptionError(f"{args.out} exists; pass --overwrite to replace it")
    out = export_checkpoint(args.checkpoint, args.out, weights=args.weights, vocoder=args.vocoder)
    print(f"wrote {out}")
    return 0


__all__ = ["HELP", "configure", "run"]


def run(args: argparse.Namespace) -> int:
    from ..errors import InvalidOptionError

    raise InvalidOptionError("train needs an action: prepare, fit, distill or export (see luxtts train --help)")
