"""Ours against upstream LuxTTS on the same machine and the same random full-size weights, alternating rounds.

    python benchmarks/compare_upstream.py --upstream ~/src/LuxTTS --upstream-python ~/src/LuxTTS/.venv/bin/python \
        [--rounds 4] [--threads 2] [--ours float32 int8 bfloat16] [--theirs torch onnx onnx-int8]

The upstream checkout (github.com/ysharma3501/LuxTTS, with its requirements installed in its own virtual
environment: torch, onnxruntime, linacodec, lhotse, piper_phonemize, ...) is the user's; nothing of it is copied
here. This script:

1. takes our random full-size model folder (``luxtts.bench.random_model``) and writes the same weights in
   upstream's layout (``model.pt`` = {"model": state_dict}, ``config.json`` and ``model.json``, ``tokens.txt``,
   ``vocoder/config.yaml``, ``vocoder/vocos.bin``), then runs upstream's own ONNX export on it once
   (``python -m zipvoice.bin.onnx_export``: fm_decoder.onnx and its quantize_dynamic int8 twin);
2. starts one long-lived worker process per variant (ours: float32 / int8 / bfloat16 eager; upstream: its PyTorch
   path ``modeling_utils.generate``, its CPU default ONNX path ``onnx_modeling.generate_cpu`` in float32, and the
   same with the int8 export), each loading its model once and warming up;
3. runs W1 (the bench's 5 s synthetic prompt and sentence, 4 steps, one pass: upstream has no chunking) in every
   worker in turn, rotating the order each round, and resets each worker's peak RSS before its run;
4. prints per variant: audio seconds, ms per frame (prompt + generated frames: the unit of work; upstream's ONNX
   path makes fewer frames for the same text, see the README), peak RSS, and for each pair the within-round
   ratio of ms per frame with its range over rounds.

Upstream's prompt transcript comes from Whisper; here both sides get the bench's known prompt text, so no ASR
model is loaded or timed. Upstream's GPU path on a CPU and its ONNX path are both measured because a CPU user of
``LuxTTS(device="cpu")`` gets the ONNX path.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Dict, List, Optional, Sequence

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from luxtts.vocoder.loading import _FEATURE_KEYS  # noqa: E402  (the one table of upstream's vocoder key names)
SAMPLES_PER_FRAME_48K = 512  # 48 kHz output, 24 kHz features at hop 256

OURS = {"float32": {}, "int8": {"quantize": "int8"}, "bfloat16": {"dtype": "bfloat16"}}
THEIRS = ("torch", "onnx", "onnx-int8")
# Which upstream variant each of ours is compared with, per frame.
PAIRS = {"float32": ("onnx", "torch"), "int8": ("onnx-int8",), "bfloat16": ("onnx", "onnx-int8")}

# The worker protocol: one JSON line {"ready": ...} after load + warm-up, then for each "run" line read from
# stdin one JSON line {"seconds", "audio_seconds", "frames", "peak_rss_mb"}; "quit" ends it.
_COMMON = r'''
import json, sys, time

def reset_peak():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass

def peak_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")

def serve(generate, prompt_frames):
    generate()  # warm-up
    print(json.dumps({"ready": True, "prompt_frames": prompt_frames}), flush=True)
    for line in sys.stdin:
        if line.strip() != "run":
            break
        reset_peak()
        t0 = time.perf_counter()
        samples = generate()
        seconds = time.perf_counter() - t0
        print(json.dumps({"seconds": seconds, "audio_seconds": samples / 48000,
                          "frames": prompt_frames + samples // 512, "peak_rss_mb": peak_mb()}), flush=True)
'''

_OURS_WORKER = _COMMON + r'''
from luxtts import LuxTTS  # first, as a user's script would: it sets libgomp's spin count before torch loads it
import torch
spec = json.loads(sys.argv[1])
torch.set_num_threads(spec["threads"])
tts = LuxTTS.from_pretrained(spec["model"], device="cpu", threads=spec["threads"], **spec["load"])
prompt = tts.encode_prompt(spec["prompt_wav"], duration=5, rms=0.01, text=spec["prompt_text"])

def generate():
    return tts.generate(spec["text"], prompt, seed=0, chunk_tokens=None).audio.shape[-1]

serve(generate, prompt.num_frames)
'''

# Runs inside the upstream checkout's own environment; uses only upstream's public functions.
_THEIRS_WORKER = _COMMON + r'''
import soundfile as sf
import torch
from torch.nn.utils import parametrize
spec = json.loads(sys.argv[1])
torch.set_num_threads(spec["threads"])
folder = spec["model"]
from linacodec.vocoder.vocos import Vocos
from zipvoice.tokenizer.tokenizer import EmiliaTokenizer
from zipvoice.utils.feature import VocosFbank
from zipvoice.utils.infer import rms_norm

tokenizer = EmiliaTokenizer(token_file=f"{folder}/tokens.txt")
vocos = Vocos.from_hparams(f"{folder}/vocoder/config.yaml").eval()
for layer in vocos.upsampler.upsample_layers[:2]:
    parametrize.remove_parametrizations(layer, "weight")
vocos.load_state_dict(torch.load(f"{folder}/vocoder/vocos.bin", map_location="cpu"))
vocos.freq_range = 12000
vocos.return_48k = True

wav, rate = sf.read(spec["prompt_wav"], dtype="float32")
assert rate == 24000, rate
wav, prompt_rms = rms_norm(torch.from_numpy(wav)[None], 0.01)
with torch.inference_mode():
    features = VocosFbank().extract(wav, sampling_rate=24000)[None] * 0.1
features_lens = torch.tensor([features.size(1)])
prompt_tokens = tokenizer.texts_to_token_ids([spec["prompt_text"]])

if spec["variant"] == "torch":
    from zipvoice.models.zipvoice_distill import ZipVoiceDistill
    from zipvoice.modeling_utils import generate as run
    from zipvoice.utils.checkpoint import load_checkpoint
    config = json.load(open(f"{folder}/config.json"))
    model = ZipVoiceDistill(**config["model"], vocab_size=tokenizer.vocab_size, pad_id=tokenizer.pad_id)
    load_checkpoint(filename=f"{folder}/model.pt", model=model, strict=True)
    model = model.eval()
else:
    from zipvoice.onnx_modeling import OnnxModel, generate_cpu as run
    suffix = "_int8" if spec["variant"] == "onnx-int8" else ""
    model = OnnxModel(f"{folder}/onnx/text_encoder{suffix}.onnx", f"{folder}/onnx/fm_decoder{suffix}.onnx",
                      num_thread=spec["threads"])

def generate():
    torch.manual_seed(0)
    with torch.inference_mode():
        wav = run(prompt_tokens, features_lens, features, prompt_rms, spec["text"], model, vocos, tokenizer,
                  num_step=4, guidance_scale=3.0, t_shift=0.5, speed=1.0)
    return wav.reshape(-1).shape[-1]

serve(generate, int(features_lens[0]))
'''


# Upstream's Vocos keeps the feature extractor's buffers inside torchaudio modules and loads strictly.
_UPSTREAM_VOCODER_KEYS = {ours: theirs for theirs, ours in _FEATURE_KEYS.items()}


def write_upstream_layout(ours: Path, dest: Path) -> Path:
    """Our random model folder -> the same weights as upstream reads them (torch.save'd dicts, its file names)."""
    import torch

    from luxtts.weights import read_state_dict

    if (dest / "complete").is_file():
        return dest
    (dest / "vocoder").mkdir(parents=True, exist_ok=True)
    model_sd = read_state_dict(next(ours.glob("model.safetensors")), mmap=False)
    torch.save({"model": dict(model_sd)}, dest / "model.pt")
    for name in ("config.json", "model.json"):  # LuxTTS reads config.json, the ZipVoice export model.json
        shutil.copyfile(ours / "config.json", dest / name)
    shutil.copyfile(ours / "tokens.txt", dest / "tokens.txt")
    shutil.copyfile(ours / "vocoder" / "config.yaml", dest / "vocoder" / "config.yaml")
    vocoder_sd = read_state_dict(ours / "vocoder" / "model.safetensors", mmap=False)
    torch.save({_UPSTREAM_VOCODER_KEYS.get(k, k): v for k, v in vocoder_sd.items()}, dest / "vocoder" / "vocos.bin")
    (dest / "complete").write_text("ok")
    return dest


# torch >= 2.9 exports with dynamo by default, which fails on upstream's traced (jit) modules; the TorchScript
# exporter it was written for is still there behind dynamo=False. Patched in the process, upstream's files untouched.
_EXPORT = r'''
import runpy, sys, torch
_export = torch.onnx.export
def export(*args, **kwargs):
    kwargs.setdefault("dynamo", False)
    return _export(*args, **kwargs)
torch.onnx.export = export
sys.argv = ["onnx_export"] + sys.argv[1:]
runpy.run_module("zipvoice.bin.onnx_export", run_name="__main__")
'''


def export_onnx(upstream: Path, python: str, folder: Path, extra_path: Sequence[Path] = ()) -> None:
    """Upstream's own exporter on ``folder`` (its layout) -> folder/onnx/{text_encoder,fm_decoder}[_int8].onnx."""
    if (folder / "onnx" / "fm_decoder_int8.onnx").is_file():
        return
    subprocess.run([python, "-c", _EXPORT, "--model-name", "zipvoice_distill",
                    "--model-dir", str(folder), "--checkpoint-name", "model.pt",
                    "--onnx-model-dir", str(folder / "onnx")],
                   cwd=upstream, env=_env([upstream, *extra_path], 1), check=True)


def _env(pythonpath: Sequence[Path], threads: int) -> Dict[str, str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(p) for p in pythonpath),
           "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    return env  # OpenMP's wait policy as users have it: PASSIVE made our side 1.5x slower on an idle machine


class Worker:
    def __init__(self, name: str, python: str, script: str, spec: dict, pythonpath: Sequence[Path], threads: int,
                 tmp: Path) -> None:
        path = tmp / f"worker_{name.replace('/', '_')}.py"
        path.write_text(textwrap.dedent(script), encoding="utf-8")
        self.name = name
        self.proc = subprocess.Popen([python, str(path), json.dumps(spec)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, cwd=str(pythonpath[0]),
                                     env=_env(pythonpath, threads))
        self.ready = self._read()
        self.prompt_frames = self.ready["prompt_frames"]

    def _read(self) -> dict:
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"worker {self.name} exited (code {self.proc.wait()}); see its stderr above")
            if line.startswith("{"):
                return json.loads(line)

    def run(self) -> dict:
        self.proc.stdin.write("run\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
            self.proc.wait(timeout=60)


def _range(values: List[float], fmt: str = "{:.2f}") -> str:
    return f"{fmt.format(min(values))} ({fmt.format(min(values))}-{fmt.format(max(values))})"


def alternate(workers: Sequence["Worker"], rounds: int) -> Dict[str, List[dict]]:
    """Each worker runs once a round, the order rotated each round, so drift in the host's speed hits all alike."""
    results: Dict[str, List[dict]] = {w.name: [] for w in workers}
    for r in range(rounds):
        for k in range(len(workers)):
            w = workers[(r + k) % len(workers)]
            results[w.name].append(w.run())
        print(f"round {r + 1}/{rounds} done", file=sys.stderr)
    return results


def report(results: Dict[str, List[dict]], rounds: int, pairs: Dict[str, Sequence[str]] = PAIRS,
           theirs: str = "upstream") -> str:
    """A table per variant, then for each (ours, theirs) pair the per-round ratio of ms per frame."""
    lines = ["| variant | audio s | ms per frame, best (range) | frames | peak RSS MB (range) |",
             "|---|---|---|---|---|"]
    for name, runs in results.items():
        ms = [1000 * r["seconds"] / r["frames"] for r in runs]
        rss = [r["peak_rss_mb"] for r in runs]
        lines.append(f"| {name} | {runs[0]['audio_seconds']:.2f} | {_range(ms)} | {runs[0]['frames']} | "
                     f"{min(rss):.0f}-{max(rss):.0f} |")
    lines.append("")
    lines.append(f"Within-round ratios, {theirs} ms per frame / ours (> 1: ours faster); median, range:")
    for ours, theirs_list in pairs.items():
        key = f"ours {ours}"
        if key not in results:
            continue
        for name in theirs_list:
            other = f"{theirs} {name}"
            if other not in results:
                continue
            ratios = [(t["seconds"] / t["frames"]) / (o["seconds"] / o["frames"])
                      for o, t in zip(results[key], results[other])]
            lines.append(f"  {key} vs {other}: {statistics.median(ratios):.2f}x "
                         f"({min(ratios):.2f}-{max(ratios):.2f}) over {len(ratios)} rounds")
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--upstream", type=Path, help="a LuxTTS checkout (github.com/ysharma3501/LuxTTS)")
    ap.add_argument("--upstream-python", help="the python of the checkout's virtual environment")
    ap.add_argument("--upstream-path", type=Path, nargs="*", default=[],
                    help="more import folders for upstream, e.g. a LinaCodec checkout's src (if not pip-installed)")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ours", nargs="*", choices=list(OURS), default=["float32", "int8"])
    ap.add_argument("--theirs", nargs="*", choices=THEIRS, default=list(THEIRS))
    ap.add_argument("--model", type=Path, default=None, help="our model folder (default: random full size)")
    ap.add_argument("--work-dir", type=Path, default=None, help="where upstream's copy and export are kept")
    ap.add_argument("--json", type=Path, default=None, help="also write every run as JSON")
    args = ap.parse_args(argv)
    if args.theirs and not (args.upstream and args.upstream_python):
        ap.error("--upstream and --upstream-python are needed to run upstream (or pass --theirs with no value)")

    sys.path.insert(0, str(REPO))
    from luxtts.bench.random_model import _default_cache, random_model_folder
    from luxtts.bench.workloads import PROMPT_TEXT, W1_TEXT, write_prompt

    cache = _default_cache()
    ours_folder = args.model or random_model_folder("full", cache)
    prompt_wav = write_prompt(cache / "synthetic_prompt_5s.wav")
    base = {"prompt_wav": str(prompt_wav), "prompt_text": PROMPT_TEXT, "text": W1_TEXT, "threads": args.threads}
    theirs_folder = None
    if args.theirs:
        theirs_folder = write_upstream_layout(Path(ours_folder),
                                              args.work_dir or cache / f"upstream-{Path(ours_folder).name}")
        if any(t.startswith("onnx") for t in args.theirs):
            export_onnx(args.upstream, args.upstream_python, theirs_folder, args.upstream_path)

    workers: List[Worker] = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            for name in args.ours:
                spec = {**base, "model": str(ours_folder), "load": OURS[name]}
                workers.append(Worker(f"ours {name}", sys.executable, _OURS_WORKER, spec, [REPO], args.threads,
                                      Path(tmp)))
            for name in args.theirs:
                spec = {**base, "model": str(theirs_folder), "variant": name}
                workers.append(Worker(f"upstream {name}", args.upstream_python, _THEIRS_WORKER, spec,
                                      [args.upstream.resolve(), *args.upstream_path], args.threads,
                                      Path(tmp)))
            results = alternate(workers, args.rounds)
        finally:
            for w in workers:
                w.close()
    print(report(results, args.rounds))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
