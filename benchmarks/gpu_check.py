"""The GPU checks to run when a GPU is lent: half-precision W1, batched W2, cross-request batching.

    python benchmarks/gpu_check.py [--device cuda] [--dtypes float16 bfloat16] [--words 300] [--requests 8]
    python benchmarks/gpu_check.py --dry-run      # the same code on the CPU with a tiny random model (seconds)

Three measurements, each on random full-size weights (``--model DIR`` for a real model), printed as one JSON
object (``--json FILE`` writes it too):

1. **W1 one pass** per dtype (float32 as the reference, then each ``--dtypes``): best and median seconds over
   ``--repeat`` runs after a warm-up, RTF, and the SNR of the mel features against float32 on the same noise
   (half precision must stay a bounded perturbation, as the CPU tests hold it);
2. **W2 batched**: the first ``--words`` words of W2 with the chunks batched under ``batch_frames`` (the GPU
   default, 4000) against one chunk per call: seconds and the ratio;
3. **cross-request batching** as the server's scheduler does it: ``--requests`` planned generations (different
   texts, one voice) whose next chunks share one :func:`luxtts.batching.run_batch` call, against one call per
   request; seconds per round of chunks and the ratio.

Timings synchronise the device before reading the clock. Nothing here writes into docs: numbers go there only
from a run on a real GPU, with the device's name (printed here) and the date.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional

REPO = Path(__file__).resolve().parents[1]


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], object], device, repeat: int) -> Dict[str, float]:
    """Best and median seconds of ``repeat`` calls of ``fn`` after one warm-up call, the device synchronised."""
    fn()
    _sync(device)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return {"best_s": min(times), "median_s": statistics.median(times), "runs": len(times)}


def snr_db(reference, other) -> float:
    """10 log10(|ref|^2 / |ref - other|^2) over the whole tensor; inf when equal."""
    ref = reference.double()
    err = (ref - other.double()).pow(2).sum().item()
    return math.inf if err == 0 else 10.0 * math.log10(ref.pow(2).sum().item() / err)


def _load(model: str, device: str, dtype: str, threads: Optional[int]):
    from luxtts import LuxTTS

    return LuxTTS.from_pretrained(model, device=device, dtype=dtype, threads=threads)


def w1(tts, prompt, text: str, repeat: int) -> Dict[str, object]:
    """W1 one pass: timing, RTF, and the mel features of seed 0 (for the SNR against float32)."""
    def once():
        return tts.generate(text, prompt, seed=0, chunk_tokens=None)

    stats = timed(once, tts.device, repeat)
    audio = once()
    seconds = audio.audio.shape[-1] / audio.sample_rate
    gen = tts.plan(text, prompt, seed=0, chunk_tokens=None)
    feats = _features(tts, gen)
    return {**stats, "audio_s": seconds, "rtf_best": stats["best_s"] / seconds, "features": feats}


def _features(tts, gen):
    """The acoustic model's output for a generation's first chunk, float32 on the CPU."""
    from luxtts.batching import _acoustic

    feats, lens = _acoustic(tts, [(gen, gen.chunks[0])])
    return feats[0, : int(lens[0])].float().cpu()


def w2_batched(tts, prompt, text: str, batch_frames: int, repeat: int) -> Dict[str, object]:
    """W2's chunks batched under ``batch_frames`` against one chunk per call (``batch_frames=1``)."""
    out = {}
    for name, budget in (("batched", batch_frames), ("one_per_call", 1)):
        out[name] = timed(lambda: tts.generate(text, prompt, seed=0, batch_frames=budget), tts.device, repeat)
    out["chunks"] = len(tts.plan(text, prompt, seed=0).chunks)
    out["speedup"] = out["one_per_call"]["best_s"] / out["batched"]["best_s"]
    return out


def cross_request(tts, prompt, texts: List[str], repeat: int) -> Dict[str, object]:
    """The first chunk of each of ``texts`` (one request each) in one run_batch call, against one call each."""
    from luxtts.batching import run_batch

    def plans():
        return [tts.plan(t, prompt, seed=i) for i, t in enumerate(texts)]

    def together():
        gens = plans()
        run_batch(tts, [(g, g.chunks[0]) for g in gens])

    def apart():
        for g in plans():
            run_batch(tts, [(g, g.chunks[0])])

    out = {"requests": len(texts), "together": timed(together, tts.device, repeat),
           "apart": timed(apart, tts.device, repeat)}
    out["speedup"] = out["apart"]["best_s"] / out["together"]["best_s"]
    return out


def run(model: str, device: str, dtypes: List[str], words: int, requests: int, repeat: int,
        threads: Optional[int], text_w1: str, prompt_text: str, prompt_audio) -> Dict[str, object]:
    from luxtts.bench.workloads import w2_text

    report: Dict[str, object] = {"device": device, "model": model}
    reference = None
    results = {}
    for dtype in ["float32", *[d for d in dtypes if d != "float32"]]:
        tts = _load(model, device, dtype, threads)
        if tts.device.type == "cuda":
            import torch

            report["device_name"] = torch.cuda.get_device_name(tts.device)
        prompt = tts.encode_prompt(prompt_audio, text=prompt_text)
        res = w1(tts, prompt, text_w1, repeat)
        feats = res.pop("features")
        if reference is None:
            reference = feats
        res["features_snr_db_vs_float32"] = snr_db(reference, feats)
        results[dtype] = res
        if dtype == (dtypes[0] if dtypes else "float32"):
            long_text = w2_text(words)
            report["w2"] = {"dtype": dtype, "words": words,
                            **w2_batched(tts, prompt, long_text, 4000, max(1, repeat // 2))}
            texts = [w2_text(10 + 3 * i) for i in range(requests)]
            report["cross_request"] = {"dtype": dtype, **cross_request(tts, prompt, texts, repeat)}
        del tts
    report["w1"] = results
    return report


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--dtypes", nargs="*", default=["float16", "bfloat16"])
    ap.add_argument("--model", default=None, help="a model folder (default: random full-size weights)")
    ap.add_argument("--words", type=int, default=300, help="words of W2 for the batched check")
    ap.add_argument("--requests", type=int, default=8, help="requests sharing one call in the cross-request check")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--dry-run", action="store_true",
                    help="CPU, tiny random model, few words: proves the script runs, measures nothing of use")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)

    sys.path.insert(0, str(REPO))
    import torch

    from luxtts.bench.random_model import random_model_folder
    from luxtts.bench.workloads import PROMPT_TEXT, W1_TEXT, synthetic_prompt

    if args.dry_run:
        args.device, args.words, args.requests, args.repeat = "cpu", 20, 2, 1
        args.dtypes = [d for d in args.dtypes if d == "bfloat16"]  # float16 matmuls are slow or missing on CPUs
        args.threads = args.threads or 1
    model = args.model or str(random_model_folder("tiny" if args.dry_run else "full"))
    prompt_audio = (torch.from_numpy(synthetic_prompt()), 24000)
    report = run(model, args.device, args.dtypes, args.words, args.requests, args.repeat, args.threads,
                 W1_TEXT, PROMPT_TEXT, prompt_audio)
    report["dry_run"] = args.dry_run
    text = json.dumps(report, indent=1, default=float)
    print(text)
    if args.json:
        args.json.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
