"""``luxtts convert``: rewrite torch weight files as safetensors (read with weights_only, never executed)."""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path
from typing import List, Union

from .errors import CheckpointError, InvalidOptionError, OutputExistsError, OutputIsInputError
from .hub import resolve_model
from .weights import read_state_dict, save_safetensors

PathLike = Union[str, os.PathLike]
_TORCH_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt")


def convert(source: PathLike, dest: PathLike, force: bool = False) -> List[Path]:
    """A weight file -> ``dest`` (.safetensors); a model folder or repo id -> a new folder ``dest`` in the
    safetensors layout (model.safetensors, config, tokens.txt, vocoder/config.yaml, vocoder/model.safetensors).
    An existing destination file (or a non-empty folder) needs ``force``; a destination that is one of the
    source files is always refused. Files are written atomically with the umask's permissions.
    Returns the files written."""
    src = Path(os.fspath(source)).expanduser()
    dst = Path(os.fspath(dest)).expanduser()
    if src.is_file():
        return [convert_file(src, dst, force)]
    return convert_model(os.fspath(source), dst, force)


def convert_file(src: Path, dst: Path, force: bool = False) -> Path:
    if dst.suffix != ".safetensors":
        raise InvalidOptionError(f"the destination of a weight file must end in .safetensors, got {str(dst)!r}")
    if src.suffix == ".safetensors":
        raise InvalidOptionError(f"{src} is already a safetensors file")
    if not dst.parent.is_dir():
        raise InvalidOptionError(f"destination folder {str(dst.parent)!r} does not exist")
    _check_target(dst, [src], force)
    return _to_safetensors(src, dst)


def convert_model(name: str, dst: Path, force: bool = False) -> List[Path]:
    files = resolve_model(name)
    if dst.suffix == ".safetensors":
        raise InvalidOptionError(f"{name!r} is a model; give a folder to write it to, not {str(dst)!r}")
    if dst.exists() and not dst.is_dir():
        raise InvalidOptionError(f"destination {str(dst)!r} is a file; give a folder for a model")
    if not dst.parent.is_dir():
        raise InvalidOptionError(f"destination folder's parent {str(dst.parent)!r} does not exist")
    if dst.is_dir() and os.path.realpath(dst) == os.path.realpath(files.folder):
        raise OutputIsInputError(f"destination folder {str(dst)!r} is the source model's folder; give a new folder")
    if dst.exists() and any(dst.iterdir()) and not force:
        raise OutputExistsError(f"destination folder {str(dst)!r} exists and is not empty; pass --force to "
                                "replace the model files in it")
    plan = [
        (files.checkpoint, dst / "model.safetensors", True),
        (files.config, dst / files.config.name, False),
        (files.tokens, dst / "tokens.txt", False),
        (files.vocoder_config, dst / "vocoder" / "config.yaml", False),
        (files.vocoder_weights, dst / "vocoder" / "model.safetensors", True),
    ]
    inputs = [src for src, _, _ in plan]
    for _, target, _ in plan:
        _check_target(target, inputs, force=True)
    (dst / "vocoder").mkdir(parents=True, exist_ok=True)
    return [_weights(src, target) if weights else _copy(src, target) for src, target, weights in plan]


def _check_target(dst: Path, inputs: List[Path], force: bool) -> None:
    for src in inputs:
        if dst.exists() and (os.path.realpath(dst) == os.path.realpath(src) or os.path.samefile(dst, src)):
            raise OutputIsInputError(f"destination {str(dst)!r} is the source file {src}; give another destination")
    if dst.exists() and not force:
        raise OutputExistsError(f"destination {str(dst)!r} already exists; pass --force to replace it")


def _weights(src: Path, dst: Path) -> Path:
    if src.suffix == ".safetensors":
        return _copy(src, dst)
    if src.suffix not in _TORCH_SUFFIXES:
        raise CheckpointError(f"{src}: unknown weight file type {src.suffix!r}")
    return _to_safetensors(src, dst)


def _to_safetensors(src: Path, dst: Path) -> Path:
    save_safetensors(read_state_dict(src), dst, metadata={"converted_from": src.name})
    # safetensors creates its files 0600; a converted model is as shareable as the rest of its folder.
    os.chmod(dst, _umask_mode())
    return dst


def _copy(src: Path, dst: Path) -> Path:
    tmp = dst.with_name(f".{dst.name}.{secrets.token_hex(4)}.tmp")
    try:
        shutil.copyfile(src, tmp)
        os.chmod(tmp, _umask_mode())
        os.replace(tmp, dst)
    finally:
        if tmp.exists():
            tmp.unlink()
    return dst


def _umask_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask
