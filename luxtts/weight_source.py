"""Weights read one tensor at a time, so that loading never holds two copies of a model in memory.

``.safetensors`` is parsed directly and each tensor is read with plain file I/O into its final buffer (a
memory-mapped read would keep the file's pages resident next to the copy, doubling peak RSS). Torch files are
opened with ``torch.load(mmap=True, weights_only=True)`` (through :func:`luxtts.weights.read_state_dict`),
whose tensors are the file's pages themselves.
"""

from __future__ import annotations

import contextlib
import json
import math
import struct
import threading
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple, Union

import torch
from torch import nn

from .errors import CheckpointError
from .weights import read_state_dict

_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
    "BOOL": torch.bool,
}
_PREFIX = "module."

LinearTransform = Callable[[str, nn.Module], nn.Module]


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

    @property
    def is_safetensors(self) -> bool:
        return bool(self._header) or self.path.suffix == ".safetensors"

    def keys(self) -> List[str]:
        if self._header:
            return [k[len(self._strip):] for k in self._header]
        return list(self._tensors)

    def shape(self, key: str) -> Tuple[int, ...]:
        if self._header:
            return tuple(self._header[self._strip + key]["shape"])
        return tuple(self._tensors[key].shape)

    def dtype(self, key: str) -> torch.dtype:
        if not self._header:
            return self._tensors[key].dtype
        info = self._header[self._strip + key]
        dtype = _DTYPES.get(info["dtype"])
        if dtype is None:
            raise CheckpointError(f"{self.path}: tensor {key!r} has unsupported dtype {info['dtype']}")
        return dtype

    def get(self, key: str, out: Optional[torch.Tensor] = None) -> torch.Tensor:
        """The tensor ``key``; read into ``out`` (contiguous, of its shape and dtype; a torch file's tensor may
        also be converted into another dtype) when given."""
        if not self._header:
            value = self._tensors[key]
            return value if out is None else out.copy_(value)
        info = self._header[self._strip + key]
        dtype = self.dtype(key)
        begin, end = info["data_offsets"]
        if out is None:
            out = torch.empty(info["shape"], dtype=dtype)
        elif not (out.dtype == dtype and tuple(out.shape) == tuple(info["shape"]) and out.is_contiguous()):
            raise ValueError(f"out must be a contiguous {dtype} tensor of shape {info['shape']}")
        if out.numel() * out.element_size() != end - begin:
            raise CheckpointError(f"{self.path}: tensor {key!r} has {end - begin} bytes for shape {info['shape']}")
        with open(self.path, "rb") as f:
            f.seek(self._data_start + begin)
            view = out.reshape(-1).view(torch.uint8).numpy() if out.numel() else None
            if view is not None and f.readinto(memoryview(view)) != end - begin:
                raise CheckpointError(f"{self.path} is truncated (tensor {key!r})")
        return out


class Staging:
    """Reused buffers (one per dtype) for weights that are read only to be replaced, e.g. quantized.

    Read each into a fresh tensor and freed once its int8 copy is made, they left glibc's heap riddled with
    holes of their size (116 MB beside 212 MB in use after the full-size int8 model): holes stay mapped, and
    a generation's temporaries, placed in them one after another, made them resident again, so that peak
    memory counted them. Read here, they take one block that is freed at the end of loading.
    """

    def __init__(self) -> None:
        self._flat: Dict[torch.dtype, torch.Tensor] = {}

    def reserve(self, numel: int, dtype: torch.dtype) -> None:
        """Make room for ``numel`` elements of ``dtype`` now, so that the buffer is allocated once."""
        flat = self._flat.get(dtype)
        if flat is None or flat.numel() < numel:
            self._flat.pop(dtype, None)
            self._flat[dtype] = torch.empty(numel, dtype=dtype)

    def tensor(self, shape: Tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
        """A (shape, dtype) view of the buffer; valid until the next call."""
        numel = math.prod(shape)
        self.reserve(numel, dtype)
        return self._flat[dtype][:numel].view(shape)

    def read(self, source: "WeightSource", key: str, dtype: torch.dtype) -> torch.Tensor:
        """``source``'s tensor ``key`` as ``dtype``, in the buffer. A torch file's tensor (its own mapped pages)
        is converted as it is copied in; a safetensors file's bytes go through a second buffer if the file holds
        another dtype."""
        shape = source.shape(key)
        stored = source.dtype(key)
        if stored == dtype or not source.is_safetensors:
            return source.get(key, out=self.tensor(shape, dtype))
        return self.tensor(shape, dtype).copy_(source.get(key, out=self.tensor(shape, stored)))

    def release(self) -> None:
        self._flat.clear()


def release_free_memory() -> None:
    """Hand freed memory back to the OS: MKL's cached buffers (``mkl_free_buffers``), then glibc's heap
    (``malloc_trim``); each a no-op where it is missing.

    Loading reads and drops thousands of temporary tensors; glibc keeps such freed chunks in its heap, where
    they count in the process's resident memory until trimmed. MKL's allocator keeps what its FFTs used: the
    vocoder's crossover transforms the whole signal, whose length varies with the text, and each new length
    left 4-12 MB behind (measured: 33 MB more in use after six generations of three lengths).
    """
    global _releasers
    if _releasers is None:
        _releasers = _find_releasers()
    for release in _releasers:
        release()


def _find_releasers() -> list:
    import ctypes
    import ctypes.util
    import os

    found = []
    try:
        # torch links MKL statically and exports its service call; "unused" buffers only, as mkl_free_buffers
        mkl = ctypes.CDLL(os.path.join(os.path.dirname(torch.__file__), "lib", "libtorch_cpu.so"))
        found.append(mkl.mkl_serv_free_buffers)
    except (OSError, AttributeError):
        pass
    try:
        trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
        trim.argtypes = [ctypes.c_size_t]
        found.append(lambda: trim(0))
    except (OSError, AttributeError):
        pass
    return found


_releasers = None


_INIT_LOCK = threading.Lock()


@contextlib.contextmanager
def uninitialized():
    """Build modules without running their weight initialisers: the weights are about to be replaced, and
    memory that is allocated but never written costs no RSS. (The "meta" device would do the same, but its
    first use imports ~800 torch modules, ~100 MB.)"""
    classes = (nn.Linear, nn.Conv1d, nn.ConvTranspose1d, nn.Embedding)
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


def replace_linears(module: nn.Module, transform: LinearTransform) -> None:
    """Put ``transform(name, linear)`` in place of each nn.Linear of ``module`` (name relative to it) that the
    transform changes; the already-loaded counterpart of :func:`materialize`'s ``linear_transform``."""
    for name, linear in [(n, m) for n, m in module.named_modules() if n and isinstance(m, nn.Linear)]:
        replacement = transform(name, linear)
        if replacement is not linear:
            parent, _, child = name.rpartition(".")
            setattr(module.get_submodule(parent), child, replacement)


def materialize(model: nn.Module, source: WeightSource, dtype: torch.dtype,
                linear_transform: Optional[LinearTransform] = None,
                file_key: Optional[Callable[[str], Optional[str]]] = None) -> None:
    """Give every parameter and buffer of ``model`` its value from ``source``, in ``dtype`` (floating ones).

    file_key: the file's name for a tensor of ``model`` (default: the same), or None to keep the tensor the
    module already holds. The names and shapes must have been checked against the file already.
    With a ``linear_transform``, each linear layer's weight is read into one reused buffer (see
    :class:`Staging`) and gets memory of its own only if the transform keeps the layer.
    """
    modules = dict(model.named_modules())
    locate = file_key or (lambda name: name)
    staging = Staging() if linear_transform is not None else None
    if staging is not None:
        sizes = [math.prod(m.weight.shape) for name, m in modules.items() if name and isinstance(m, nn.Linear)]
        staging.reserve(max(sizes, default=0), dtype)
    for name in list(modules):
        module = modules[name]
        prefix = f"{name}." if name else ""
        staged = staging is not None and isinstance(module, nn.Linear) and bool(name)
        for kind in ("_parameters", "_buffers"):
            table = getattr(module, kind)
            for key, old in list(table.items()):
                where = None if old is None else locate(prefix + key)
                if where is None:
                    continue
                if staged and kind == "_parameters" and key == "weight" and source.dtype(where).is_floating_point:
                    value = staging.read(source, where, dtype)
                else:
                    value = source.get(where)
                    if value.is_floating_point():
                        value = value.to(dtype)
                table[key] = nn.Parameter(value, requires_grad=False) if kind == "_parameters" else value
        if staged:
            parent_name, _, child = name.rpartition(".")
            replacement = linear_transform(name, module)
            if replacement is not module:
                setattr(modules[parent_name], child, replacement)
                modules[name] = replacement
            else:  # kept as it is: its weight moves out of the buffer the next layer is read into
                module.weight = nn.Parameter(module.weight.detach().clone(), requires_grad=False)
        del module
    if staging is not None:
        staging.release()
    release_free_memory()
