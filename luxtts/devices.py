"""Devices, dtypes and threads: "auto" and upstream's fall-back rules, with errors that name what is accepted."""

from __future__ import annotations

import logging
from typing import Optional, Union

import torch

from .errors import InvalidOptionError, brief

logger = logging.getLogger("luxtts")

DTYPES = {"float32": torch.float32, "fp32": torch.float32, "float16": torch.float16, "fp16": torch.float16,
          "half": torch.float16, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}


def resolve_device(device: Union[str, torch.device]) -> torch.device:
    """"auto" -> cuda, then mps, then cpu. An unavailable cuda/mps falls back with a logged warning."""
    if isinstance(device, torch.device):
        spec = str(device)
    elif isinstance(device, str):
        spec = device.strip().lower()
    else:
        raise InvalidOptionError(f"device must be a string such as 'auto', 'cpu', 'cuda' or 'mps', got {brief(device)}")
    kind, _, index = spec.partition(":")
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "mps" if _mps_available() else "cpu")
    if kind not in ("cpu", "cuda", "mps") or (index and not index.isdigit()) or (index and kind != "cuda"):
        raise InvalidOptionError(f"device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps', got {brief(device)}")
    if kind == "cuda" and not torch.cuda.is_available():
        fallback = "mps" if _mps_available() else "cpu"
        logger.warning("CUDA is not available; using %s instead", fallback)
        return torch.device(fallback)
    if kind == "cuda" and index and int(index) >= torch.cuda.device_count():
        raise InvalidOptionError(f"device {spec!r} does not exist: {torch.cuda.device_count()} CUDA device(s) visible")
    if kind == "mps" and not _mps_available():
        logger.warning("MPS is not available; using cpu instead")
        return torch.device("cpu")
    return torch.device(spec)


def resolve_dtype(dtype: Union[None, str, torch.dtype]) -> torch.dtype:
    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype) and dtype in DTYPES.values():
        return dtype
    if isinstance(dtype, str) and dtype.lower().removeprefix("torch.") in DTYPES:
        return DTYPES[dtype.lower().removeprefix("torch.")]
    raise InvalidOptionError(f"dtype must be one of float32, float16, bfloat16 (or None), got {brief(dtype)}")


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def apply_threads(threads: Optional[int], device: torch.device) -> None:
    """On the CPU, use ``threads`` intra-op threads (None: leave torch's setting alone)."""
    if threads is None or device.type != "cpu":
        return
    from .runtime.threads import configure_threads

    configure_threads(threads)
