"""Build a ZipVoice / ZipVoice-Distill model from its published files (weights, config.json, tokens.txt)."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Optional, Tuple, Union

import torch

from ..config import AcousticModelFile
from ..errors import CheckpointError, ConfigError, LuxTTSError
from ..weights import load_strict, read_state_dict, save_safetensors
from ..weight_source import LinearTransform, WeightSource, materialize, uninitialized
from .zipvoice import ZipVoiceModel

PathLike = Union[str, Path]

PAD_TOKEN = "_"
_DISTILL_KEY = "fm_decoder.guidance_scale_embed.weight"
_REQUIRED_PREFIXES = ("fm_decoder.", "text_encoder.", "embed.")


def read_token_table(path: PathLike) -> Tuple[int, int]:
    """(vocab_size, pad_id) from a "token<TAB>id" file: one token per non-blank line, pad = the id of "_"."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise ConfigError(f"tokens file not found: {path}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"tokens file {path} is not UTF-8 text: {e}") from None
    ids = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        fields = line.rstrip().split("\t")
        try:
            token, token_id = fields[0], int(fields[1])
        except (IndexError, ValueError):
            raise ConfigError(f"{path}:{number}: expected 'token<TAB>id', got {line!r}") from None
        if token in ids:
            raise ConfigError(f"{path}:{number}: token {token!r} is listed twice")
        ids[token] = token_id
    if PAD_TOKEN not in ids:
        raise ConfigError(f"{path} has no pad token {PAD_TOKEN!r}")
    return len(ids), ids[PAD_TOKEN]


def is_distilled(state_dict: Mapping[str, torch.Tensor]) -> bool:
    """A ZipVoice-Distill checkpoint is the one whose decoder embeds the guidance scale."""
    return _DISTILL_KEY in state_dict


def _check_is_zipvoice(state_dict: Mapping[str, torch.Tensor], what: str) -> None:
    missing = [p for p in _REQUIRED_PREFIXES if not any(k.startswith(p) for k in state_dict)]
    if missing:
        raise CheckpointError(
            f"{what} does not look like a ZipVoice checkpoint: no keys under {missing} "
            f"(first keys: {sorted(state_dict)[:5]})"
        )


def load_acoustic_model(
    checkpoint: PathLike, config_json: PathLike, tokens_txt: PathLike, device="cpu",
    dtype: torch.dtype = torch.float32, linear_transform: Optional[LinearTransform] = None,
) -> ZipVoiceModel:
    """Load weights (.pt/.bin via weights_only, or .safetensors) strictly into a model built from config.json.

    Base vs distilled is read from the weights. Returns the model in eval mode on ``device`` in ``dtype``.
    Tensors are read one at a time straight into the model (peak memory ~ one copy of the weights).
    ``linear_transform(name, linear)`` may replace each nn.Linear as soon as its weights are in (e.g. by an
    int8 version), so that the full float32 model never exists.
    """
    vocab_size, pad_id = read_token_table(tokens_txt)
    cfg = AcousticModelFile.from_json(config_json, vocab_size=vocab_size, pad_id=pad_id).model
    source = WeightSource(checkpoint)
    keys = dict.fromkeys(source.keys())
    _check_is_zipvoice(keys, str(checkpoint))
    try:
        with uninitialized():
            model = ZipVoiceModel(cfg, distill=is_distilled(keys))
    except (ValueError, TypeError, ZeroDivisionError) as e:
        if isinstance(e, LuxTTSError):
            raise
        raise ConfigError(f"{config_json}: no model can be built from this config ({str(e)[:160]})") from None
    # Names and shapes are checked against the file before any tensor is read (with 1-element stand-ins).
    stand_in = torch.empty(())
    shapes = {k: stand_in.expand(source.shape(k)) for k in keys}
    load_strict(model, shapes, what=f"acoustic model {checkpoint}", assign=True)
    materialize(model, source, dtype, linear_transform)
    return model.to(device=device).eval()


def convert_checkpoint(src: PathLike, dst_safetensors: PathLike) -> Path:
    """Rewrite a trusted-format checkpoint (read without executing code) as a plain .safetensors file."""
    dst = Path(dst_safetensors)
    if dst.suffix != ".safetensors":
        raise CheckpointError(f"destination must end in .safetensors, got {dst}")
    state_dict = read_state_dict(src)
    _check_is_zipvoice(state_dict, str(src))
    kind = "zipvoice-distill" if is_distilled(state_dict) else "zipvoice"
    save_safetensors(state_dict, dst, metadata={"format": "pt", "model": kind})
    return dst
