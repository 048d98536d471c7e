"""Model folders with random weights, for benchmarks and CI: full size (the published dims) or tiny.

Full size: ZipVoice-Distill with the zipformer base dims (``ModelConfig()`` defaults, 122.7 M parameters) and
LuxTTS's 48 kHz vocoder (backbone 512/1536 x 8, upsampler x2 x2 kernel 8, 48 kHz head n_fft 512 / hop 128).
Weights: the modules' own initialisation, then every parameter and buffer perturbed, so that no constant
(bypass scales, norms, biases at zero) makes a branch degenerate. The token table holds the espeak phonemes
of the workload texts. Written once as safetensors in the LuxTTS layout and reused.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Dict, Iterable, Optional

import torch

from ..config import (AcousticModelFile, BackboneConfig, HeadConfig, MelConfig, ModelConfig, UpsamplerConfig,
                      VocoderConfig)
from .workloads import PROMPT_TEXT, W1_TEXT, w2_text

FORMAT_VERSION = 1
SIZES = ("full", "tiny")


def model_config(size: str, vocab_size: int) -> ModelConfig:
    if size == "full":
        return ModelConfig(vocab_size=vocab_size, pad_id=0)
    if size == "tiny":
        return ModelConfig(
            fm_decoder_downsampling_factor=(1, 2, 1), fm_decoder_num_layers=(1, 1, 1),
            fm_decoder_cnn_module_kernel=(7, 5, 7), fm_decoder_feedforward_dim=64, fm_decoder_num_heads=2,
            fm_decoder_dim=48, text_encoder_num_layers=1, text_encoder_feedforward_dim=48,
            text_encoder_cnn_module_kernel=5, text_encoder_num_heads=2, text_encoder_dim=32, query_head_dim=8,
            value_head_dim=4, pos_head_dim=4, pos_dim=16, time_embed_dim=16, text_embed_dim=16,
            vocab_size=vocab_size, pad_id=0,
        )
    raise ValueError(f"size must be one of {SIZES}, got {size!r}")


def vocoder_config(size: str) -> VocoderConfig:
    dim, inter, layers = (512, 1536, 8) if size == "full" else (128, 128, 1)  # upsampler needs dim % 128 == 0
    return VocoderConfig(
        feature_extractor=MelConfig(),
        backbone=BackboneConfig(input_channels=100, dim=dim, intermediate_dim=inter, num_layers=layers),
        head=HeadConfig(dim=dim, n_fft=1024, hop_length=256, padding="same"),
        upsampler=UpsamplerConfig(in_channels=dim, upsample_factors=(2, 2), kernel_sizes=(8, 8)),
        head_48k=HeadConfig(dim=dim, n_fft=512, hop_length=128, padding="same"),
    )


def phoneme_tokens(texts: Iterable[str]) -> list:
    """Sorted set of the Emilia tokenizer's tokens for ``texts`` (the pad "_" first)."""
    from ..text import EmiliaTokenizer

    tokenizer = EmiliaTokenizer({"_": 0})
    seen = set()
    for text in texts:
        seen.update(tokenizer.text_to_tokens(text))
    seen.discard("_")
    return ["_"] + sorted(seen)


def _perturb(module: torch.nn.Module, generator: torch.Generator, scale: float = 0.1) -> None:
    """p += scale * (mean |p| + 0.01) * N(0, 1) for every float parameter and buffer except fixed tables."""
    with torch.no_grad():
        for name, t in list(module.named_parameters()) + list(module.named_buffers()):
            if not t.is_floating_point() or name.endswith(("window", "filterbank")):
                continue
            noise = torch.randn(t.shape, generator=generator, dtype=t.dtype)
            t.add_(noise * scale * (t.abs().mean() + 0.01))


def _default_cache() -> Path:
    """$LUXTTS_BENCH_CACHE, else $XDG_CACHE_HOME/luxtts/bench (~/.cache/luxtts/bench)."""
    if os.environ.get("LUXTTS_BENCH_CACHE"):
        return Path(os.environ["LUXTTS_BENCH_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "luxtts" / "bench"


def random_model_folder(size: str = "full", cache_dir: Optional[os.PathLike] = None, seed: int = 0,
                        extra_texts: Iterable[str] = ()) -> Path:
    """Path to a LuxTTS-layout folder with random weights of ``size`` ("full" or "tiny"), built on first use."""
    tokens = phoneme_tokens([PROMPT_TEXT, W1_TEXT, w2_text(), *extra_texts])
    key = hashlib.sha256(json.dumps([FORMAT_VERSION, size, seed, tokens]).encode()).hexdigest()[:12]
    folder = Path(cache_dir) if cache_dir is not None else _default_cache()
    folder = folder / f"random-{size}-{key}"
    if (folder / "complete").is_file():
        return folder
    _write_folder(folder, size, seed, tokens)
    return folder


def _write_folder(folder: Path, size: str, seed: int, tokens: list) -> None:
    from ..model import ZipVoiceModel
    from ..vocoder import build_vocoder
    from ..weights import save_safetensors

    (folder / "vocoder").mkdir(parents=True, exist_ok=True)
    generator = torch.Generator().manual_seed(seed)
    cfg = model_config(size, len(tokens))
    torch.manual_seed(seed)
    model = ZipVoiceModel(cfg, distill=True).eval()
    _perturb(model, generator)
    save_safetensors(model.state_dict(), folder / "model.safetensors", metadata={"format": "pt"})
    del model
    (folder / "config.json").write_text(json.dumps(AcousticModelFile(model=cfg).to_dict(), indent=1))
    (folder / "tokens.txt").write_text("".join(f"{t}\t{i}\n" for i, t in enumerate(tokens)), encoding="utf-8")
    vcfg = vocoder_config(size)
    vocoder = build_vocoder(vcfg)
    _perturb(vocoder, generator)
    save_safetensors(vocoder.state_dict(), folder / "vocoder" / "model.safetensors", metadata={"format": "pt"})
    _write_yaml(folder / "vocoder" / "config.yaml", vcfg.to_dict())
    (folder / "complete").write_text(json.dumps({"size": size, "seed": seed, "format": FORMAT_VERSION}))


def _write_yaml(path: Path, d: Dict) -> None:
    import yaml

    path.write_text(yaml.safe_dump(d, sort_keys=False), encoding="utf-8")
