"""One decoder step at the W1 shape, four ways: eager fp32 (our default), ONNX Runtime fp32 (our own export,
static shape), ONNX Runtime dynamic int8 (onnxruntime.quantization), eager int8 (luxtts.runtime), and
optionally torch.compile. Prints seconds per step and SNR against eager fp32.

    python benchmarks/compare_backends.py [--threads 2] [--frames 1364] [--compile] [--model DIR]

Used to decide which backends to keep (see the luxtts.runtime docstring). Needs onnx and onnxruntime.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import torch

from luxtts.runtime import snr_db


class DecoderStep(torch.nn.Module):
    """velocity(t, x) of the distilled model for fixed conditions, as a module (no padding)."""

    def __init__(self, model, frames: int) -> None:
        super().__init__()
        self.model, self.dec, self.frames = model, model.fm_decoder, frames
        self.w_x = model._split_in_proj()[0]

    def forward(self, x, cond, t, guidance):
        from luxtts.model.zipvoice import _project_state

        contexts = self.dec.prepare(self.frames, None)
        return self.dec.encode(_project_state(x, self.w_x, cond), contexts, self.dec.embed_time(t.reshape(1), guidance))


def timed(fn, repeats: int = 3) -> float:
    from luxtts.bench.quiet import measure

    fn()
    return min(measure(fn, tries=3)[1] for _ in range(repeats))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--frames", type=int, default=1364, help="prompt + generated frames (W1: 1364)")
    ap.add_argument("--model", type=Path, default=None, help="model folder (default: the random full-size one)")
    ap.add_argument("--compile", action="store_true", help="also time torch.compile (takes minutes)")
    args = ap.parse_args(argv)

    import onnxruntime as ort

    from luxtts.bench.random_model import random_model_folder
    from luxtts.model import load_acoustic_model
    from luxtts.runtime import int8_transform

    torch.set_num_threads(args.threads)
    folder = args.model or random_model_folder("full")
    files = [next(folder.glob("model.*")), folder / "config.json", folder / "tokens.txt"]
    model = load_acoustic_model(*files)
    gen = torch.Generator().manual_seed(0)
    t_frames, p_frames = args.frames, args.frames // 3
    text = torch.randn(1, t_frames, 100, generator=gen) * 0.3
    speech = torch.zeros(1, t_frames, 100)
    speech[:, :p_frames] = torch.randn(1, p_frames, 100, generator=gen) * 0.3
    x = torch.randn(1, t_frames, 100, generator=gen)
    t = torch.tensor(0.3)
    results = {}
    with torch.inference_mode():
        cond = model._condition_bias(text, speech, text)
        guidance = model.fm_decoder.embed_guidance(torch.tensor([3.0]))
        step = DecoderStep(model, t_frames).eval()
        ref = step(x, cond, t, guidance)
        results["eager fp32"] = (timed(lambda: step(x, cond, t, guidance)), math.inf)

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "decoder.onnx"
        with torch.no_grad():
            torch.onnx.export(step, (x, cond, t, guidance), str(path), dynamo=False, opset_version=17,
                              input_names=["x", "cond", "t", "guidance"], output_names=["v"])
        so = ort.SessionOptions()
        so.intra_op_num_threads, so.inter_op_num_threads = args.threads, 1
        feeds = {"x": x.numpy(), "cond": cond.numpy(), "t": t.numpy(), "guidance": guidance.numpy()}
        sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        results["onnxruntime fp32"] = (timed(lambda: sess.run(None, feeds)), snr_db(sess.run(None, feeds)[0], ref))
        from onnxruntime.quantization import QuantType, quantize_dynamic

        qpath = Path(tmp) / "decoder_int8.onnx"
        quantize_dynamic(str(path), str(qpath), weight_type=QuantType.QInt8, per_channel=True)
        qsess = ort.InferenceSession(str(qpath), so, providers=["CPUExecutionProvider"])
        results["onnxruntime int8"] = (timed(lambda: qsess.run(None, feeds)), snr_db(qsess.run(None, feeds)[0], ref))

    model8 = load_acoustic_model(*files, linear_transform=int8_transform())
    with torch.inference_mode():
        step8 = DecoderStep(model8, t_frames).eval()
        results["eager int8 (luxtts)"] = (timed(lambda: step8(x, cond, t, guidance)),
                                          snr_db(step8(x, cond, t, guidance), ref))
        if args.compile:
            model.fm_decoder.encode = torch.compile(model.fm_decoder.encode, dynamic=True)
            t0 = time.perf_counter()
            out = step(x, cond, t, guidance)
            print(f"torch.compile: first call (compilation) {time.perf_counter() - t0:.0f} s")
            results["torch.compile fp32"] = (timed(lambda: step(x, cond, t, guidance)), snr_db(out, ref))

    print(f"decoder step, {t_frames} frames, {args.threads} threads")
    for name, (sec, snr) in results.items():
        print(f"  {name:22s} {sec:6.3f} s/step   SNR vs eager fp32 {snr:6.1f} dB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
