"""``luxtts convert``: rewrite torch weight files as safetensors (read with weights_only, never executed)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import List, Union

from .errors import CheckpointError, InvalidOptionError
from .hub import resolve_model
from .weights import read_state_dict, save_safetensors

PathLike = Union[str, os.PathLike]
_TORCH_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt")


def convert(source: PathLike, dest: PathLike) -> List[Path]:
    """A weight file -> ``dest`` (.safetensors); a model folder or repo id -> a new folder ``dest`` in the
    safetensors layout (model.safetensors, config, tokens.txt, vocoder/config.yaml, vocoder/model.safetensors).
    Returns the files written."""
    src = Path(os.fspath(source)).expanduser()
    dst = Path(os.fspath(dest)).expanduser()
    if src.is_file():
        return [convert_file(src, dst)]
    return convert_model(os.fspath(source), dst)


def convert_file(src: Path, dst: Path) -> Path:
    if dst.suffix != ".safetensors":
        raise InvalidOptionError(f"the destination of a weight file must end in .safetensors, got {str(dst)!r}")
    if src.suffix == ".safetensors":
        raise InvalidOptionError(f"{src} is already a safetensors file")
    if not dst.parent.is_dir():
        raise InvalidOptionError(f"destination folder {str(dst.parent)!r} does not exist")
    return _to_safetensors(src, dst)


def convert_model(name: str, dst: Path) -> List[Path]:
    files = resolve_model(name)
    if dst.suffix == ".safetensors":
        raise InvalidOptionError(f"{name!r} is a model; give a folder to write it to, not {str(dst)!r}")
    if dst.exists() and any(dst.iterdir()):
        raise InvalidOptionError(f"destination folder {str(dst)!r} exists and is not empty")
    if not dst.parent.is_dir():
        raise InvalidOptionError(f"destination folder's parent {str(dst.parent)!r} does not exist")
    (dst / "vocoder").mkdir(parents=True, exist_ok=True)
    written = [
        _weights(files.checkpoint, dst / "model.safetensors"),
        _copy(files.config, dst / files.config.name),
        _copy(files.tokens, dst / "tokens.txt"),
        _copy(files.vocoder_config, dst / "vocoder" / "config.yaml"),
        _weights(files.vocoder_weights, dst / "vocoder" / "model.safetensors"),
    ]
    return written


def _weights(src: Path, dst: Path) -> Path:
    if src.suffix == ".safetensors":
        return _copy(src, dst)
    if src.suffix not in _TORCH_SUFFIXES:
        raise CheckpointError(f"{src}: unknown weight file type {src.suffix!r}")
    return _to_safetensors(src, dst)


def _to_safetensors(src: Path, dst: Path) -> Path:
    save_safetensors(read_state_dict(src), dst, metadata={"converted_from": src.name})
    return dst


def _copy(src: Path, dst: Path) -> Path:
    shutil.copyfile(src, dst)
    return dst
