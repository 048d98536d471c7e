"""Build a ZipVoice / ZipVoice-Distill model from its published files (weights, config.json, tokens.txt)."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Tuple, Union

import torch

from ..config import AcousticModelFile
from ..errors import CheckpointError, ConfigError
from ..weights import load_strict, read_state_dict, save_safetensors
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
    dtype: torch.dtype = torch.float32,
) -> ZipVoiceModel:
    """Load weights (.pt/.bin via weights_only, or .safetensors) strictly into a model built from config.json.

    Base vs distilled is read from the weights. Returns the model in eval mode on ``device`` in ``dtype``.
    """
    vocab_size, pad_id = read_token_table(tokens_txt)
    cfg = AcousticModelFile.from_json(config_json, vocab_size=vocab_size, pad_id=pad_id).model
    state_dict = read_state_dict(checkpoint)
    _check_is_zipvoice(state_dict, str(checkpoint))
    with torch.device("meta"):
        model = ZipVoiceModel(cfg, distill=is_distilled(state_dict))
    model = model.to_empty(device="cpu")
    load_strict(model, state_dict, what=f"acoustic model {checkpoint}")
    return model.to(device=device, dtype=dtype).eval()


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
