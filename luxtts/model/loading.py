"""Build a ZipVoice / ZipVoice-Distill model from its published files (weights, config.json, tokens.txt)."""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from typing import Callable, Mapping, Optional, Tuple, Union

import torch
from torch import nn

from ..config import AcousticModelFile
from ..errors import CheckpointError, ConfigError, LuxTTSError
from ..weights import load_strict, read_state_dict, save_safetensors
from .weight_source import WeightSource, release_free_memory
from .zipvoice import ZipVoiceModel

PathLike = Union[str, Path]
LinearTransform = Callable[[str, nn.Module], nn.Module]

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
        with _uninitialized():
            model = ZipVoiceModel(cfg, distill=is_distilled(keys))
    except (ValueError, TypeError, ZeroDivisionError) as e:
        if isinstance(e, LuxTTSError):
            raise
        raise ConfigError(f"{config_json}: no model can be built from this config ({str(e)[:160]})") from None
    # Names and shapes are checked against the file before any tensor is read (with 1-element stand-ins).
    stand_in = torch.empty(())
    shapes = {k: stand_in.expand(source.shape(k)) for k in keys}
    load_strict(model, shapes, what=f"acoustic model {checkpoint}", assign=True)
    _materialize(model, source, dtype, linear_transform)
    return model.to(device=device).eval()


_INIT_LOCK = threading.Lock()


@contextlib.contextmanager
def _uninitialized():
    """Build modules without running their weight initialisers: the weights are about to be replaced, and
    memory that is allocated but never written costs no RSS. (The "meta" device would do the same, but its
    first use imports ~800 torch modules, ~100 MB.)"""
    classes = (nn.Linear, nn.Conv1d, nn.Embedding)
    with _INIT_LOCK:
        saved = [(cls, cls.__dict__.get("reset_parameters")) for cls in classes]
        for cls in classes:
            cls.reset_parameters = _no_init
        try:
            yield
        finally:
            for cls, method in saved:
                if method is None:
                    del cls.reset_parameters
                else:
                    cls.reset_parameters = method


def _no_init(self) -> None:
    return None


def _materialize(model: nn.Module, source: WeightSource, dtype: torch.dtype,
                 linear_transform: Optional[LinearTransform]) -> None:
    """Give every parameter and buffer of ``model`` its value from ``source``, in ``dtype``."""
    modules = dict(model.named_modules())
    replaced = 0
    for name in list(modules):
        module = modules[name]
        prefix = f"{name}." if name else ""
        for kind in ("_parameters", "_buffers"):
            table = getattr(module, kind)
            for key, old in list(table.items()):
                if old is None:
                    continue
                value = source.get(prefix + key)
                if value.is_floating_point():
                    value = value.to(dtype)
                table[key] = nn.Parameter(value, requires_grad=False) if kind == "_parameters" else value
        if linear_transform is not None and isinstance(module, nn.Linear) and name:
            parent_name, _, child = name.rpartition(".")
            replacement = linear_transform(name, module)
            if replacement is not module:
                setattr(modules[parent_name], child, replacement)
                modules[name] = replacement  # drop the last reference to the float32 weights now
                replaced += 1
                if replaced % 16 == 0:
                    release_free_memory()
        del module
    release_free_memory()


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
