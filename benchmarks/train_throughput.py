"""Training throughput of the full-size model (ZipVoice's published dims, 122.7 M parameters):
frames per second, step time and peak memory of flow-matching (or distillation) steps on random data.

    python benchmarks/train_throughput.py --device cpu --steps 3 --batch 2 --frames 400
    python benchmarks/train_throughput.py --device cuda --steps 10 --batch 16 --frames 800 --precision bf16

Random weights and features: throughput depends on shapes, not values. The first step (allocations, kernel
selection) is excluded. On a shared CPU, numbers move with the load: report them with the conditions.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from luxtts.bench.random_model import model_config  # noqa: E402
from luxtts.model.zipvoice import ZipVoiceModel  # noqa: E402
from luxtts.train.distill import distill_loss, draw_distill  # noqa: E402
from luxtts.train.objective import draw_flow_matching, flow_matching_loss  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--frames", type=int, default=400, help="frames per utterance (10.7 ms each)")
    p.add_argument("--tokens", type=int, default=60, help="tokens per utterance")
    p.add_argument("--steps", type=int, default=3, help="timed steps after one warm-up step")
    p.add_argument("--objective", choices=["fm", "distill"], default="fm")
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--json", metavar="PATH")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    cfg = model_config("full", vocab_size=360)
    student = ZipVoiceModel(cfg, distill=args.objective == "distill").to(device).train()
    teacher = ZipVoiceModel(cfg, distill=False).to(device).eval().requires_grad_(False) if args.objective == "distill" else None
    params = [q for q in student.parameters() if q.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    feats = torch.randn(args.batch, args.frames, cfg.feat_dim) * 0.3
    lens = torch.full((args.batch,), args.frames, dtype=torch.int64)
    tokens = [[random.randrange(1, 360) for _ in range(args.tokens)] for _ in range(args.batch)]
    gen = torch.Generator().manual_seed(0)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.precision == "bf16")

    def step() -> None:
        with autocast:
            if teacher is None:
                d = draw_flow_matching(feats, lens, 0.2, gen)
                loss = flow_matching_loss(student, tokens, feats.to(device), lens.to(device), d.noise.to(device),
                                          d.t.to(device), d.speech_condition_mask.to(device),
                                          d.text_dropped.to(device)).loss
            else:
                d = draw_distill(feats, lens, 1, random.Random(0), gen)
                loss = distill_loss(student, teacher, tokens, feats.to(device), lens.to(device), d.x0.to(device),
                                    d.speech_condition_mask.to(device), d.t_value, d.delta_fix, d.delta_ema,
                                    d.guidance_scale.to(device)).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    t0 = time.perf_counter()
    step()
    sync()
    print(f"warm-up step {time.perf_counter() - t0:.2f} s", file=sys.stderr, flush=True)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - t0)
        print(f"step {len(times)}: {times[-1]:.2f} s", file=sys.stderr, flush=True)
    frames = args.batch * args.frames
    result = {
        "device": str(device), "objective": args.objective, "precision": args.precision,
        "threads": torch.get_num_threads(), "batch": args.batch, "frames_per_utterance": args.frames,
        "parameters_M": round(sum(q.numel() for q in student.parameters()) / 1e6, 1),
        "step_s_median": round(sorted(times)[len(times) // 2], 3), "step_s_min": round(min(times), 3),
        "frames_per_s": round(frames / sorted(times)[len(times) // 2], 1),
        "peak_rss_GiB": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
    }
    if device.type == "cuda":
        result["peak_cuda_GiB"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
        result["gpu"] = torch.cuda.get_device_name()
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        Path(args.json).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
