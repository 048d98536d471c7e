"""Ours against sherpa-onnx (k2-fsa's C++ runtime) on the same machine and the same random full-size weights.

    pip install sherpa-onnx   # 2.0.x; it brings its own onnxruntime and leaves torch alone
    python benchmarks/compare_sherpa.py --upstream ~/src/LuxTTS --upstream-python ~/src/LuxTTS/.venv/bin/python \
        [--upstream-path ~/src/LinaCodec/src] [--rounds 4] [--threads 2] [--ours float32 int8] [--theirs float32 int8]

sherpa-onnx runs ZipVoice-Distill from the ONNX files that upstream's exporter writes, plus a 24 kHz Vocos ONNX
that returns (magnitude, cos, sin), after which sherpa-onnx runs its own inverse STFT. This script:

1. writes our random full-size model in upstream's layout and runs upstream's exporter on it (as
   ``compare_upstream.py`` does: text_encoder / fm_decoder, float32 and int8);
2. exports the vocoder's backbone and 24 kHz head from the same weights as ``vocos_24khz.onnx`` (in upstream's
   environment, with upstream's Vocos classes, so our code plays no part in what sherpa-onnx runs), with the
   metadata sherpa-onnx reads;
3. starts one long-lived worker per variant (ours eager; sherpa-onnx float32 and int8), runs W1 in one pass in
   each in turn, rotating the order each round, and prints ms per frame, peak RSS and within-round ratios.

sherpa-onnx 2.0.x has no espeak: the prompt's and the text's phoneme tokens go in as strings
(``GenerationConfig.tokens``), made by our tokenizer from the same texts; ``extra`` holds a huge ``min_words_in_sentence`` so the text stays one pass;
4 steps and silence_scale 1.0 as upstream. Its audio is 24 kHz (no 48 kHz upsampler): it does a little less
vocoder work per frame than we do, which counts in its favour here.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import List, Optional, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compare_upstream as cu  # noqa: E402  (a sibling script, not a package)

THEIRS = ("float32", "int8")
PAIRS = {"float32": ("float32",), "int8": ("int8",)}
SAMPLE_RATE = 24000
HOP = 256
# What sherpa-onnx's Vocos vocoder reads from the file (vocos-vocoder.cc): the inverse STFT it then runs.
VOCOS_META = {"model_type": "vocos", "sample_rate": "24000", "n_fft": "1024", "hop_length": "256",
              "win_length": "1024", "window_type": "hann", "center": "1", "pad_mode": "reflect",
              "normalized": "0"}

# Runs in upstream's environment (torch + onnx + linacodec): argv = folder in upstream's layout, output path.
_VOCODER_EXPORT = r'''
import json, sys, onnx, torch
from torch.nn.utils import parametrize
from linacodec.vocoder.vocos import Vocos
folder, out, meta = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
vocos = Vocos.from_hparams(f"{folder}/vocoder/config.yaml").eval()
for layer in vocos.upsampler.upsample_layers[:2]:
    parametrize.remove_parametrizations(layer, "weight")
vocos.load_state_dict(torch.load(f"{folder}/vocoder/vocos.bin", map_location="cpu"))

class Spectrum(torch.nn.Module):
    """mel (1, 100, T) -> magnitude, cos, sin (1, 513, T): Vocos' 24 kHz head short of its inverse STFT."""
    def __init__(self, vocos):
        super().__init__()
        self.backbone, self.out = vocos.backbone, vocos.head.out
    def forward(self, mel):
        log_mag, phase = self.out(self.backbone(mel)).transpose(1, 2).chunk(2, dim=1)
        return torch.clip(torch.exp(log_mag), max=1e2), torch.cos(phase), torch.sin(phase)

mel = torch.randn(1, 100, 200)
torch.onnx.export(Spectrum(vocos).eval(), (mel,), out, input_names=["mels"], output_names=["mag", "x", "y"],
                  dynamic_axes={"mels": {0: "N", 2: "T"}, "mag": {0: "N", 2: "T"}, "x": {0: "N", 2: "T"},
                                "y": {0: "N", 2: "T"}}, opset_version=17, dynamo=False)
model = onnx.load(out)
for key, value in meta.items():
    model.metadata_props.add(key=key, value=value)
onnx.save(model, out)
'''

# Our python (sherpa_onnx installed there); the worker protocol of compare_upstream.
_SHERPA_WORKER = cu._COMMON + r'''
import sherpa_onnx
import soundfile as sf
spec = json.loads(sys.argv[1])
onnx = spec["onnx"]
suffix = "_int8" if spec["variant"] == "int8" else ""
zipvoice = sherpa_onnx.OfflineTtsZipvoiceModelConfig(
    tokens=spec["tokens_file"], encoder=f"{onnx}/text_encoder{suffix}.onnx",
    decoder=f"{onnx}/fm_decoder{suffix}.onnx", vocoder=f"{onnx}/vocos_24khz.onnx",
    t_shift=0.5, target_rms=0.01, guidance_scale=3.0)
config = sherpa_onnx.OfflineTtsConfig(
    model=sherpa_onnx.OfflineTtsModelConfig(zipvoice=zipvoice, num_threads=spec["threads"]),
    max_num_sentences=1, silence_scale=1.0)
tts = sherpa_onnx.OfflineTts(config)
wav, rate = sf.read(spec["prompt_wav"], dtype="float32")
gen = sherpa_onnx.GenerationConfig()
gen.reference_audio = wav.tolist()
gen.reference_sample_rate = rate
gen.reference_text = spec["prompt_text"]
gen.tokens = spec["tokens"]  # [prompt's tokens, then one list per sentence]
gen.num_steps = 4
gen.speed = 1.0
gen.silence_scale = 1.0
gen.extra = {"min_words_in_sentence": "1000000"}  # one pass; pybind copies: assign the whole dict

def generate():
    audio = tts.generate(spec["text"], gen)
    assert audio.sample_rate == 24000, audio.sample_rate
    return 2 * len(audio.samples)  # serve() counts 48 kHz samples; sherpa-onnx writes 24 kHz

serve(generate, spec["prompt_frames"])
'''


def export_vocoder(python: str, folder: Path, extra_path, upstream: Path) -> Path:
    """The 24 kHz Vocos ONNX sherpa-onnx reads, from the weights in ``folder`` (upstream's layout)."""
    out = folder / "onnx" / "vocos_24khz.onnx"
    if not out.is_file():
        subprocess.run([python, "-c", _VOCODER_EXPORT, str(folder), str(out), json.dumps(VOCOS_META)],
                       cwd=upstream, env=cu._env([upstream, *extra_path], 1), check=True)
    return out


def prompt_frames(num_samples: int) -> int:
    """Frames of a prompt of ``num_samples`` at 24 kHz under a centred STFT (what sherpa-onnx computes)."""
    return num_samples // HOP + 1


def generation_tokens(prompt: Sequence[str], sentences: Sequence[Sequence[str]]) -> List[List[str]]:
    """``GenerationConfig.tokens`` as sherpa-onnx 2.0.x reads it for ZipVoice: the prompt's tokens first, then
    one list per sentence (given only the sentences it takes the first for the prompt and speaks nothing)."""
    if not prompt or not sentences or not all(sentences):
        raise ValueError("the prompt and every sentence need at least one token")
    return [list(prompt)] + [list(s) for s in sentences]


def phoneme_tokens(model_folder: Path, prompt_text: str, text: str) -> List[List[str]]:
    """Our tokenizer's phoneme tokens of the prompt's transcript and of ``text`` (one pass), in sherpa's form."""
    from luxtts.text.tokenizer import EmiliaTokenizer

    tokenizer = EmiliaTokenizer(str(model_folder / "tokens.txt"))
    return generation_tokens(tokenizer.text_to_tokens(prompt_text), [tokenizer.text_to_tokens(text)])


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--upstream", type=Path, required=True, help="a LuxTTS checkout (its exporter)")
    ap.add_argument("--upstream-python", required=True, help="the python of the checkout's virtual environment")
    ap.add_argument("--upstream-path", type=Path, nargs="*", default=[],
                    help="more import folders for upstream, e.g. a LinaCodec checkout's src")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ours", nargs="*", choices=list(cu.OURS), default=["float32", "int8"])
    ap.add_argument("--theirs", nargs="*", choices=THEIRS, default=list(THEIRS))
    ap.add_argument("--json", type=Path, default=None, help="also write every run as JSON")
    args = ap.parse_args(argv)

    sys.path.insert(0, str(cu.REPO))
    import soundfile as sf

    from luxtts.bench.random_model import _default_cache, random_model_folder
    from luxtts.bench.workloads import PROMPT_TEXT, W1_TEXT, write_prompt

    cache = _default_cache()
    ours_folder = Path(random_model_folder("full", cache))
    prompt_wav = write_prompt(cache / "synthetic_prompt_5s.wav")
    theirs_folder = cu.write_upstream_layout(ours_folder, cache / f"upstream-{ours_folder.name}")
    cu.export_onnx(args.upstream, args.upstream_python, theirs_folder, args.upstream_path)
    export_vocoder(args.upstream_python, theirs_folder, args.upstream_path, args.upstream.resolve())

    base = {"prompt_wav": str(prompt_wav), "prompt_text": PROMPT_TEXT, "text": W1_TEXT, "threads": args.threads}
    sherpa = {**base, "onnx": str(theirs_folder / "onnx"), "tokens_file": str(theirs_folder / "tokens.txt"),
              "tokens": phoneme_tokens(ours_folder, PROMPT_TEXT, W1_TEXT),
              "prompt_frames": prompt_frames(sf.info(prompt_wav).frames)}
    workers: List[cu.Worker] = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            for name in args.ours:
                spec = {**base, "model": str(ours_folder), "load": cu.OURS[name]}
                workers.append(cu.Worker(f"ours {name}", sys.executable, cu._OURS_WORKER, spec, [cu.REPO],
                                         args.threads, Path(tmp)))
            for name in args.theirs:
                workers.append(cu.Worker(f"sherpa-onnx {name}", sys.executable, _SHERPA_WORKER,
                                         {**sherpa, "variant": name}, [cu.REPO], args.threads, Path(tmp)))
            results = cu.alternate(workers, args.rounds)
        finally:
            for w in workers:
                w.close()
    print(cu.report(results, args.rounds, pairs=PAIRS, theirs="sherpa-onnx"))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
