"""Config + weights -> a ready Vocoder (vocos.bin, pytorch_model.bin or .safetensors, loaded strictly)."""

from __future__ import annotations

import os
from typing import Mapping, Union

import torch

from ..config import VocoderConfig
from ..weights import StateDict, load_strict, read_state_dict
from .model import Vocoder

PathLike = Union[str, os.PathLike]

# upstream nests the feature extractor's buffers inside torchaudio modules; ours are flat
_FEATURE_KEYS = {
    "feature_extractor.mel_spec.spectrogram.window": "feature_extractor.window",
    "feature_extractor.mel_spec.mel_scale.fb": "feature_extractor.filterbank",
}


def adapt_state_dict(state_dict: Mapping[str, torch.Tensor], vocoder: Vocoder) -> StateDict:
    """Rename upstream feature-extractor keys; a file without them keeps the default Hann window and filterbank.

    Those two buffers only matter for copy-synthesis, and some exports drop them; every other key must match.
    """
    sd = {_FEATURE_KEYS.get(k, k): v for k, v in state_dict.items()}
    own = vocoder.state_dict()
    for key in _FEATURE_KEYS.values():
        sd.setdefault(key, own[key])
    return sd


def build_vocoder(config: Union[VocoderConfig, PathLike], istft_mode: str = "fft") -> Vocoder:
    """A Vocoder with freshly initialised weights (for tests and benchmarks)."""
    cfg = config if isinstance(config, VocoderConfig) else VocoderConfig.from_yaml(config)
    return Vocoder(cfg, istft_mode=istft_mode).eval()


def load_vocoder(config_yaml: Union[VocoderConfig, PathLike], weights: Union[PathLike, Mapping[str, torch.Tensor]],
                 device: Union[str, torch.device] = "cpu", dtype: torch.dtype = torch.float32,
                 istft_mode: str = "fft") -> Vocoder:
    """Vocos config.yaml (or a VocoderConfig) + weights (path or state dict) -> eval-mode Vocoder on ``device``.

    Raises ConfigError for an unsupported config and CheckpointError for weights that do not fit it.
    """
    vocoder = build_vocoder(config_yaml, istft_mode)
    sd = read_state_dict(weights) if isinstance(weights, (str, os.PathLike)) else dict(weights)
    load_strict(vocoder, adapt_state_dict(sd, vocoder), what=f"vocoder ({_name(weights)})")
    vocoder.requires_grad_(False).to(device=device)
    # windows, DFT tables and filterbanks stay float32: the inverse STFT is not accurate in half precision
    for part in (vocoder.backbone, vocoder.upsampler, vocoder.head.out, getattr(vocoder.head_48k, "out", None)):
        if part is not None:
            part.to(dtype=dtype)
    return vocoder


def _name(weights) -> str:
    return os.fspath(weights) if isinstance(weights, (str, os.PathLike)) else "state dict"
