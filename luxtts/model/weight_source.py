"""Weights read one tensor at a time, so that loading never holds two copies of a model in memory.

``.safetensors`` is parsed directly and each tensor is read with plain file I/O into its final buffer (a
memory-mapped read would keep the file's pages resident next to the copy, doubling peak RSS). Torch files are
opened with ``torch.load(mmap=True, weights_only=True)`` (through :func:`luxtts.weights.read_state_dict`),
whose tensors are the file's pages themselves.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Dict, List, Tuple, Union

import torch

from ..errors import CheckpointError
from ..weights import read_state_dict

_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
    "BOOL": torch.bool,
}
_PREFIX = "module."


class WeightSource:
    """Names, shapes and (on demand) values of the tensors in a checkpoint file."""

    def __init__(self, path: Union[str, Path]) -> None:
        self.path = Path(path)
        self._header: Dict[str, dict] = {}
        self._tensors: Dict[str, torch.Tensor] = {}
        self._data_start = 0
        self._strip = ""
        if self.path.suffix == ".safetensors":
            self._open_safetensors()
        else:
            self._tensors = read_state_dict(self.path, mmap=True)

    def _open_safetensors(self) -> None:
        if not self.path.is_file():
            raise CheckpointError(f"weight file not found: {self.path}")
        try:
            with open(self.path, "rb") as f:
                (n,) = struct.unpack("<Q", f.read(8))
                if n > 100_000_000:
                    raise ValueError(f"header of {n} bytes")
                header = json.loads(f.read(n))
        except (OSError, ValueError, struct.error, UnicodeDecodeError) as e:
            raise CheckpointError(f"{self.path} is not a readable safetensors file: {e}") from None
        header.pop("__metadata__", None)
        self._data_start = 8 + n
        self._header = header
        if header and all(k.startswith(_PREFIX) for k in header):
            self._strip = _PREFIX

    def keys(self) -> List[str]:
        if self._header:
            return [k[len(self._strip):] for k in self._header]
        return list(self._tensors)

    def shape(self, key: str) -> Tuple[int, ...]:
        if self._header:
            return tuple(self._header[self._strip + key]["shape"])
        return tuple(self._tensors[key].shape)

    def get(self, key: str) -> torch.Tensor:
        if not self._header:
            return self._tensors[key]
        info = self._header[self._strip + key]
        dtype = _DTYPES.get(info["dtype"])
        if dtype is None:
            raise CheckpointError(f"{self.path}: tensor {key!r} has unsupported dtype {info['dtype']}")
        begin, end = info["data_offsets"]
        out = torch.empty(info["shape"], dtype=dtype)
        if out.numel() * out.element_size() != end - begin:
            raise CheckpointError(f"{self.path}: tensor {key!r} has {end - begin} bytes for shape {info['shape']}")
        with open(self.path, "rb") as f:
            f.seek(self._data_start + begin)
            view = out.reshape(-1).view(torch.uint8).numpy() if out.numel() else None
            if view is not None and f.readinto(memoryview(view)) != end - begin:
                raise CheckpointError(f"{self.path} is truncated (tensor {key!r})")
        return out


def release_free_memory() -> None:
    """Hand freed heap pages back to the OS (glibc ``malloc_trim``; a no-op elsewhere).

    Loading reads and drops thousands of temporary tensors; glibc keeps such freed chunks in its heap, where
    they count in the process's resident memory until trimmed.
    """
    global _malloc_trim
    if _malloc_trim is None:
        try:
            import ctypes
            import ctypes.util

            _malloc_trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _malloc_trim = False
    if _malloc_trim:
        _malloc_trim(0)


_malloc_trim = None
