"""Cost of int8 and bfloat16 on W1: mel-feature SNR and max abs error against float32, same inputs and noise.

    python benchmarks/precision_w1.py [--model DIR] [--threads 2]

Runs the acoustic model on the W1 text with the synthetic 5 s prompt (or a model folder's own weights) and
compares the sampled features (log-mel x 0.1) of each variant with the float32 ones.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from luxtts.runtime import snr_db


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)

    from luxtts.bench.random_model import random_model_folder
    from luxtts.bench.workloads import PROMPT_TEXT, W1_TEXT, write_prompt
    from luxtts.bench.random_model import _default_cache
    from luxtts.model import load_acoustic_model
    from luxtts.pipeline import encode_voice
    from luxtts.runtime import int8_transform
    from luxtts.text import EmiliaTokenizer

    torch.set_num_threads(args.threads)
    folder = args.model or random_model_folder("full")
    files = [next(folder.glob("model.*")), folder / "config.json", folder / "tokens.txt"]
    tokenizer = EmiliaTokenizer(folder / "tokens.txt")
    voice = encode_voice(str(write_prompt(_default_cache() / "synthetic_prompt_5s.wav")), tokenizer,
                         text=PROMPT_TEXT)
    tokens = [tokenizer.encode(W1_TEXT)]

    def sample(model):
        with torch.inference_mode():
            text_cond, _ = model.text_condition(tokens, [voice.tokens], torch.tensor([voice.num_frames]), 1.3)
            noise = torch.randn(1, text_cond.shape[1], 100, generator=torch.Generator().manual_seed(0))
            feats, _ = model.sample(tokens, [voice.tokens], voice.features[None], torch.tensor([voice.num_frames]),
                                    speed=1.3, t_shift=0.5, guidance_scale=3.0, num_step=4, noise=noise)
        return feats

    ref = sample(load_acoustic_model(*files))
    for name, kwargs in (("int8", {"linear_transform": int8_transform()}), ("bfloat16", {"dtype": torch.bfloat16})):
        feats = sample(load_acoustic_model(*files, **kwargs))
        print(f"{name:9s} features SNR {snr_db(feats, ref):5.1f} dB, max abs {(feats - ref).abs().max().item():.3f} "
              f"(features range {ref.min().item():.2f} .. {ref.max().item():.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
