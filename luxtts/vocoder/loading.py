"""Config + weights -> a ready Vocoder (vocos.bin, pytorch_model.bin or .safetensors, loaded strictly)."""

from __future__ import annotations

import os
from typing import Mapping, Optional, Union

import torch

from ..config import VocoderConfig
from ..weight_source import LinearTransform, WeightSource, materialize, replace_linears, uninitialized
from ..weights import StateDict, load_strict
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
                 istft_mode: str = "fft", linear_transform: Optional[LinearTransform] = None) -> Vocoder:
    """Vocos config.yaml (or a VocoderConfig) + weights (path or state dict) -> eval-mode Vocoder on ``device``.

    A weights file is read one tensor at a time into a vocoder built without initialising its weights;
    ``linear_transform(name, linear)`` may then replace each nn.Linear as soon as its weights are in (see
    :func:`luxtts.weight_source.materialize`), so that its float32 copy never exists.
    Raises ConfigError for an unsupported config and CheckpointError for weights that do not fit it.
    """
    what = f"vocoder ({_name(weights)})"
    if isinstance(weights, (str, os.PathLike)):
        source = WeightSource(weights)
        with uninitialized():
            vocoder = build_vocoder(config_yaml, istft_mode)
        file_names = {_FEATURE_KEYS.get(k, k): k for k in source.keys()}
        # names and shapes are checked against the file before any tensor is read (with 1-element stand-ins)
        stand_in = torch.empty(())
        shapes = {ours: stand_in.expand(source.shape(theirs)) for ours, theirs in file_names.items()}
        load_strict(vocoder, adapt_state_dict(shapes, vocoder), what=what, assign=True)
        materialize(vocoder, source, torch.float32, linear_transform, file_key=file_names.get)
    else:
        vocoder = build_vocoder(config_yaml, istft_mode)
        load_strict(vocoder, adapt_state_dict(dict(weights), vocoder), what=what)
        if linear_transform is not None:
            replace_linears(vocoder, linear_transform)
    vocoder.requires_grad_(False).to(device=device)
    # windows, DFT tables and filterbanks stay float32: the inverse STFT is not accurate in half precision
    for part in (vocoder.backbone, vocoder.upsampler, vocoder.head.out, getattr(vocoder.head_48k, "out", None)):
        if part is not None:
            part.to(dtype=dtype)
    return vocoder


def _name(weights) -> str:
    return os.fspath(weights) if isinstance(weights, (str, os.PathLike)) else "state dict"
