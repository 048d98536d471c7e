"""Safe weight files: read a state dict without executing code, and load it strictly with named errors."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Dict, Mapping, Optional, Sequence

import torch

from .errors import CheckpointError

StateDict = Dict[str, torch.Tensor]

_WRAPPER_KEYS = ("model", "state_dict", "model_state_dict")


def read_state_dict(path, *, mmap: bool = True) -> StateDict:
    """Read tensors from ``.safetensors``, or a torch file (``.pt``/``.bin``) with ``weights_only=True``.

    Accepts a bare state dict or one wrapped as ``{"model": ...}`` (the published ZipVoice/LuxTTS form), and
    strips DDP ``module.`` prefixes. A torch file that needs pickled code is refused, never executed.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"weight file not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            sd = load_file(str(path))
        except (SafetensorError, OSError, ValueError) as e:
            raise CheckpointError(f"{path} is not a readable safetensors file: {e}") from None
    else:
        sd = _torch_load(path, mmap=mmap)
    return _unwrap(sd, path)


def _torch_load(path: Path, mmap: bool):
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as e:
        raise CheckpointError(
            f"{path} refused: it needs pickled Python objects to load, which could run arbitrary code "
            f"(only plain tensors are accepted; convert a trusted file with `luxtts convert`). Detail: {e}"
        ) from None
    except RuntimeError as e:
        if mmap and "mmap" in str(e).lower():
            return _torch_load(path, mmap=False)
        raise CheckpointError(f"{path} is not a readable torch checkpoint: {e}") from None
    except (EOFError, OSError, ValueError) as e:
        raise CheckpointError(f"{path} is not a readable torch checkpoint: {e}") from None


def _unwrap(obj, path: Path) -> StateDict:
    if isinstance(obj, Mapping):
        for key in _WRAPPER_KEYS:
            inner = obj.get(key)
            if isinstance(inner, Mapping) and inner and all(isinstance(v, torch.Tensor) for v in inner.values()):
                obj = inner
                break
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path} does not hold a state dict of tensors")
    sd = dict(obj)
    if sd and all(k.startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}
    return sd


def load_strict(module: torch.nn.Module, state_dict: Mapping[str, torch.Tensor], what: str = "model",
                ignore: Sequence[str] = (), assign: bool = False) -> None:
    """Copy ``state_dict`` into ``module``; any missing, unexpected or mis-shaped key is a CheckpointError.

    ``ignore`` lists key prefixes in the file that the runtime module deliberately has no place for.
    ``assign``: make the module's tensors *be* the given ones (no copy; needed for a module on "meta").
    """
    expected = module.state_dict()
    given = {k: v for k, v in state_dict.items() if not any(k.startswith(p) for p in ignore)}
    missing = sorted(set(expected) - set(given))
    unexpected = sorted(set(given) - set(expected))
    mis_shaped = sorted(
        f"{k}: file {tuple(given[k].shape)} vs config {tuple(expected[k].shape)}"
        for k in set(given) & set(expected)
        if tuple(given[k].shape) != tuple(expected[k].shape)
    )
    problems = []
    if mis_shaped:
        problems.append(f"mis-shaped {_clip(mis_shaped)}")
    if missing:
        problems.append(f"missing {_clip(missing)}")
    if unexpected:
        problems.append(f"unexpected {_clip(unexpected)}")
    if problems:
        raise CheckpointError(
            f"{what} weights do not match its config ({'; '.join(problems)}). "
            "Check that the config file belongs to these weights."
        )
    module.load_state_dict(dict(given), strict=True, assign=assign)


def _clip(items: Sequence[str], n: int = 8) -> str:
    shown = ", ".join(items[:n])
    return f"[{shown}{', ... (%d more)' % (len(items) - n) if len(items) > n else ''}]"


def save_safetensors(state_dict: Mapping[str, torch.Tensor], path, metadata: Optional[Dict[str, str]] = None) -> None:
    """Write tensors to ``path`` atomically (temp file + rename)."""
    from safetensors.torch import save_file

    from .fileio import replaced_atomically

    tensors = {k: v.detach().contiguous().cpu() for k, v in state_dict.items()}
    with replaced_atomically(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
