"""Small C kernels for the CPU, compiled on first use with the system's GCC: the Swoosh tail in one pass, the
convolution module's gate, depthwise convolution and Swoosh in one pass (native/convmod.c), the
attention's positional scores and softmax, the int8 models' attention-weighted sums of 12-wide value heads from
bfloat16 weights, and their int8 linear layers on AVX-512 VNNI (native/qlinear.c says why, docs/speed.md round 7).

Why C: torch has no fused softplus(z) - 0.08 z, and its softplus kernel alone was 15% of an int8 pass (a
vectorised log1p that costs three logs). One branch-free loop over the activation, exp and log1p as
polynomials, ran 2.4x faster than torch's softplus on a 256 x 1536 block (2 threads, AMD Zen 4) and took an
int8 W1 pass to 0.93x of its time (see docs/speed.md, round 5). The value product: torch's GEMM for a
(T, T) x (T, 12) bfloat16 product runs far below the CPU's bfloat16 rate and waits on memory for weights that
left the cache since they were written (see native/attend.c and docs/speed.md, round 6).

The kernel is optional and never a new requirement: without GCC (or off Linux) the torch formulations in
:mod:`luxtts.model.layers` run as before. ``$LUXTTS_NATIVE`` chooses: ``auto`` (default: use it when it
builds), ``off``, ``on`` (a build failure is an error, with the reason).

The built library is cached under ``$LUXTTS_KERNEL_DIR`` (default ``$XDG_CACHE_HOME/luxtts/kernels``), named by
a hash of the source, the compiler's version, the flags and the CPU, so a change to any of them builds afresh.
Loading a shared object runs its code, so the folder must be ours and writable by nobody else, and a file is
written under a temporary name and renamed into place only once the compiler has finished.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import stat
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Tuple

from ..errors import InvalidOptionError, NativeKernelError

NATIVE_ENV = "LUXTTS_NATIVE"
KERNEL_DIR_ENV = "LUXTTS_KERNEL_DIR"
NATIVE_MODES = ("auto", "off", "on")
ABI_VERSION = 4
_TABLE_ROWS = 128  # rows of int8 weight summed at a time (as int32: 4x their size)
SOURCES = tuple(Path(__file__).with_name("native") / name
                for name in ("swoosh.c", "attend.c", "scores.c", "qlinear.c", "convmod.c"))
HEADERS = tuple(Path(__file__).with_name("native") / name for name in ("fastmath.h", "scratch.h"))
# OpenMP: the loop is split over torch's own thread count. GCC's libgomp has the soname torch's Linux wheels
# bundle, so the kernel binds to the copy torch already loaded (one runtime and one thread pool, checked in
# _check_no_new_openmp).
_BASE_FLAGS = ("-O3", "-fopenmp", "-fPIC", "-shared", "-std=c99")
_OPENMP_NAMES = ("libgomp", "libiomp", "libomp")


@dataclass(frozen=True)
class NativeKernels:
    """The loaded library; :meth:`swoosh_tail` is what :mod:`luxtts.model.layers` calls, :meth:`attend_bf16`
    what :func:`luxtts.model.linear.attend` calls for value heads as wide as one of :attr:`attend_widths`."""

    library: ctypes.CDLL
    path: Path
    attend_widths: Tuple[int, ...]  # value-head widths attend_bf16 computes (none without AVX-512 BF16)
    int8_panel: int  # output channels per panel of a packed int8 weight; 0: no int8 GEMM (no AVX-512 VNNI)
    bf16_scores: bool = False  # rel_attention: q . k in the softmax kernel (AVX-512 BF16)

    def swoosh_tail(self, z, slope: float):
        """softplus(z) - slope z for a contiguous float32 CPU tensor ``z``; a new tensor of its shape."""
        import torch

        out = torch.empty_like(z)
        self.library.luxtts_swoosh_tail(z.data_ptr(), out.data_ptr(), z.numel(), slope, torch.get_num_threads())
        return out

    def conv_module_core(self, h, pad_mask, weight, bias, slope: float):
        """The convolution module between its two linears: h (B, T, 2C) contiguous float32 -> (B, T, C) float32,
        softplus(z) - slope z of z = the depthwise convolution (weight (C, K) contiguous, K odd; bias (C,)) of
        h[..., :C] * sigmoid(h[..., C:]), whose frames where ``pad_mask`` ((B, T) contiguous bool, or None) is
        True count as zeros."""
        import torch

        b, t, _ = h.shape
        c, k = weight.shape
        out = torch.empty(b, t, c, dtype=torch.float32)
        status = self.library.luxtts_conv_module_core(
            h.data_ptr(), None if pad_mask is None else pad_mask.data_ptr(), weight.data_ptr(), bias.data_ptr(),
            out.data_ptr(), b, t, c, k, slope, torch.get_num_threads())
        if status != 0:
            raise MemoryError(f"the convolution kernel could not allocate its scratch for {t} frames")
        return out

    def rel_softmax(self, block, p, pos, mask, first_row: int) -> None:
        """In place: block (rows, T) contiguous scores q . k of queries first_row .. first_row + rows - 1 become
        their softmax weights, after adding p[r] . pos[:, T - 1 - (first_row + r) + j] and masking keys where
        ``mask`` (a (1, T) or (T,) contiguous bool tensor; None: none). p: (rows, dp) whose rows may be strided,
        each row contiguous; pos: (dp, >= 2T - 1) contiguous. All bfloat16 or all float32."""
        import torch

        rows, t = block.shape
        if not block.dtype == p.dtype == pos.dtype or block.dtype not in (torch.bfloat16, torch.float32):
            raise NativeKernelError(f"the softmax kernel takes bfloat16 or float32 operands of one dtype, got "
                                    f"{block.dtype}, {p.dtype}, {pos.dtype}")
        function = (self.library.luxtts_rel_softmax_bf16 if block.dtype == torch.bfloat16
                    else self.library.luxtts_rel_softmax_f32)
        status = function(
            block.data_ptr(), p.data_ptr(), p.stride(0), pos.data_ptr(), pos.shape[1],
            None if mask is None else mask.data_ptr(), rows, t, first_row, p.shape[1], torch.get_num_threads())
        if status != 0:
            raise MemoryError(f"the attention kernel could not allocate a scratch row of {t} floats")

    def packed_int8_shape(self, out_features: int, in_features: int) -> Tuple[int, int, int, int]:
        """The shape :meth:`pack_int8` gives an (out_features, in_features) weight."""
        panel = self.int8_panel
        return -(-out_features // panel), -(-in_features // 4), panel, 4

    def pack_int8(self, weight, out=None):
        """An int8 (out, in) weight -> the layout :meth:`qlinear` reads: panels of :attr:`int8_panel` output
        channels, each (in rounded up to 4) / 4 groups of 4 input channels per channel; the padding is 0.
        out: an int8 tensor of :meth:`packed_int8_shape` to write it into (allocated before the weight's
        temporaries, a loaded model's packed weights then lie together in memory)."""
        import torch

        n, k = weight.shape
        panels, groups, panel, four = self.packed_int8_shape(n, k)
        padded = torch.zeros(panels * panel, groups * four, dtype=torch.int8)
        padded[:n, :k] = weight
        packed = padded.reshape(panels, panel, groups, four).permute(0, 2, 1, 3)
        if out is None:
            return packed.contiguous()
        return out.copy_(packed)

    def unpack_int8(self, packed, out_features: int, in_features: int):
        """:meth:`pack_int8`'s inverse: the (out_features, in_features) int8 weight, contiguous."""
        panels, groups, panel, four = packed.shape
        codes = packed.permute(0, 2, 1, 3).reshape(panels * panel, groups * four)
        return codes[:out_features, :in_features].contiguous()

    def int8_tables(self, weight, w_scales):
        """(col_sums int32, w_scales float32) of an int8 (out, in) weight and its per-channel scales, padded with 0
        to the panel, as :meth:`qlinear` reads them."""
        import torch

        n = weight.shape[0]
        padded = -(-n // self.int8_panel) * self.int8_panel
        sums = torch.zeros(padded, dtype=torch.int32)
        for start in range(0, n, _TABLE_ROWS):  # an int32 sum converts its rows first: a few at a time
            stop = min(n, start + _TABLE_ROWS)
            sums[start:stop] = weight[start:stop].sum(1, dtype=torch.int32)
        scales = torch.zeros(padded, dtype=torch.float32)
        scales[:n] = w_scales
        return sums, scales

    def qlinear(self, x, packed, out_features: int, col_sums, w_scales, bias, residual=None, *,
                reduce_range: bool = False, extremes: Optional[Tuple[float, float]] = None,
                swoosh_slope: Optional[float] = None, report_extremes: bool = False, out=None):
        """fbgemm's dynamic int8 linear, bit for bit. x (m, k) contiguous float32 is quantized with the parameters
        :meth:`input_qparams` picks for its extremes (``extremes`` when the caller knows them, else found on
        every thread), times the weight :meth:`pack_int8` packed; col_sums (int32) and w_scales (float32) per
        output channel, padded to the panel; bias (out_features,) float32 or None; residual (m, out_features)
        contiguous float32 or None, added to the result. swoosh_slope: the result y becomes softplus(y) -
        slope * y, in the same pass. Returns a new (m, out_features) float32 tensor, with (low, high) of what
        it holds when ``report_extremes``; None, having computed nothing, when x's extremes are not finite.
        out: a contiguous (m, out_features) float32 tensor to write the result into instead of a new one."""
        import torch

        m, k = x.shape
        if out is None:
            out = torch.empty(m, out_features, dtype=torch.float32)
        elif not (out.shape == (m, out_features) and out.dtype == torch.float32 and out.is_contiguous()):
            raise NativeKernelError(f"out must be a contiguous ({m}, {out_features}) float32 tensor, got "
                                    f"{tuple(out.shape)} {out.dtype}")
        given = None if extremes is None else (ctypes.c_float * 2)(*extremes)
        found = (ctypes.c_float * 2)() if report_extremes else None
        status = self.library.luxtts_qlinear(
            x.data_ptr(), m, k, packed.data_ptr(), out_features, col_sums.data_ptr(), w_scales.data_ptr(),
            None if bias is None else bias.data_ptr(), None if residual is None else residual.data_ptr(),
            out.data_ptr(), given, found, swoosh_slope is not None, 0.0 if swoosh_slope is None else swoosh_slope,
            int(reduce_range), torch.get_num_threads())
        if status == 3:
            return None
        if status == 2:
            raise MemoryError(f"the int8 kernel could not allocate its {m} x {k} scratch")
        if status != 0:
            raise NativeKernelError("this kernel library has no int8 GEMM (it was built without AVX-512 VNNI)")
        return (out, (found[0], found[1])) if report_extremes else out

    def input_qparams(self, low: float, high: float, reduce_range: bool) -> Tuple[float, int]:
        """The C twin of :func:`luxtts.runtime.quantize.input_qparams` that :meth:`qlinear` uses."""
        scale, zero = ctypes.c_double(), ctypes.c_int32()
        self.library.luxtts_input_qparams(low, high, int(reduce_range), ctypes.byref(scale), ctypes.byref(zero))
        return scale.value, zero.value

    def rel_attention(self, block, q, k_pairs, p, pos, mask, first_row: int) -> None:
        """:meth:`rel_softmax` with the scores q . k computed in the kernel, in float32, instead of read from
        ``block``: block (rows, T) contiguous bfloat16, written; q (rows, dq) bfloat16, each row contiguous; k_pairs:
        :func:`key_pairs` of the head's keys. Needs :attr:`bf16_scores`."""
        import torch

        rows, t = block.shape
        status = self.library.luxtts_rel_attention_bf16(
            block.data_ptr(), q.data_ptr(), q.stride(0), k_pairs.data_ptr(), q.shape[1], p.data_ptr(), p.stride(0),
            pos.data_ptr(), pos.shape[1], None if mask is None else mask.data_ptr(), rows, t, first_row, p.shape[1],
            torch.get_num_threads())
        if status == -2:
            raise NativeKernelError("this kernel library computes no bfloat16 scores (no AVX-512 BF16)")
        if status != 0:
            raise MemoryError(f"the attention kernel could not allocate a scratch row of {t} floats")

    def attend_bf16(self, weights, values):
        """weights (B, H, T, S) contiguous bfloat16, values (B, S, H, d) float32 on the CPU, d one of
        :attr:`attend_widths` -> (B, T, H * d) float32: each head's weights times its values, summed in float32."""
        import torch

        b, h, t, s = weights.shape
        d = values.shape[-1]
        values_t = values.permute(0, 2, 3, 1).to(torch.bfloat16, memory_format=torch.contiguous_format)
        out = torch.empty(b, t, h * d, dtype=torch.float32)
        status = self.library.luxtts_attend_bf16(weights.data_ptr(), values_t.data_ptr(), out.data_ptr(), b, h, t, s,
                                                 d, torch.get_num_threads())
        if status != 0:
            raise NativeKernelError(f"the attention kernel takes value heads {self.attend_widths} wide, not {d}")
        return out


def native_mode() -> str:
    """$LUXTTS_NATIVE, checked: one of ``auto``, ``off``, ``on``."""
    mode = os.environ.get(NATIVE_ENV, "auto").strip().lower()
    if mode not in NATIVE_MODES:
        raise InvalidOptionError(f"${NATIVE_ENV} must be one of {list(NATIVE_MODES)}, got {mode!r}")
    return mode


def kernel_dir() -> Path:
    """Where built kernels are cached: $LUXTTS_KERNEL_DIR, else $XDG_CACHE_HOME/luxtts/kernels."""
    return Path(_kernel_folder())


def _kernel_folder() -> str:
    # layers ask for the kernels on every call (1,300 times a generation), and finding the folder with pathlib
    # and the home directory was most of it (17 us a call): the answer is kept per value of what decides it
    environ = os.environ
    return _folder_for(environ.get(KERNEL_DIR_ENV), environ.get("XDG_CACHE_HOME"), environ.get("HOME"))


@functools.lru_cache(maxsize=8)
def _folder_for(explicit: Optional[str], cache_home: Optional[str], home: Optional[str]) -> str:
    if explicit:
        return str(Path(explicit))
    cache = cache_home or str(Path.home() / ".cache")  # Path.home() reads $HOME, part of the key
    return str(Path(cache) / "luxtts" / "kernels")


def kernels() -> Optional[NativeKernels]:
    """The native kernels, built on first use; None when $LUXTTS_NATIVE is off, or auto and they cannot be built
    here (:func:`unavailable_reason` says why). With ``on``, that case raises :class:`NativeKernelError`."""
    mode = native_mode()
    if mode == "off":
        return None
    loaded, reason = _load(_kernel_folder())
    if loaded is None and mode == "on":
        raise NativeKernelError(f"${NATIVE_ENV}=on but the native kernel is unavailable: {reason}. "
                                f"Set {NATIVE_ENV}=auto to run without it.")
    return loaded


def unavailable_reason() -> Optional[str]:
    """Why :func:`kernels` gives None (None when it gives the kernels)."""
    if native_mode() == "off":
        return f"${NATIVE_ENV}=off"
    return _load(_kernel_folder())[1]


def status() -> str:
    """One line for ``luxtts info``."""
    try:
        reason = unavailable_reason()
    except InvalidOptionError as e:
        return str(e)
    if reason is None:
        loaded = _load(_kernel_folder())[0]
        attend = ("bfloat16 scores and value products" if loaded.attend_widths
                  else "no bfloat16 value products (no AVX-512 BF16)")
        gemm = "int8 GEMM (AVX-512 VNNI)" if loaded.int8_panel else "no int8 GEMM (no AVX-512 VNNI)"
        return f"C kernels: Swoosh, convolution module, positional softmax, {attend}, {gemm} ({loaded.path})"
    return f"not used: {reason}"


def reset() -> None:
    """Forget what was loaded (tests change the environment between calls)."""
    _load.cache_clear()
    _folder_for.cache_clear()


@functools.lru_cache(maxsize=None)
def _load(folder: str) -> Tuple[Optional[NativeKernels], Optional[str]]:
    try:
        return _build_and_load(Path(folder)), None
    except NativeKernelError as e:
        return None, str(e)


def _compiler() -> Tuple[str, str]:
    """(path, version line) of a GCC: $CC if set, else gcc, else cc. Only GCC: its libgomp is torch's."""
    names = [os.environ["CC"]] if os.environ.get("CC") else ["gcc", "cc"]
    for name in names:
        path = shutil.which(name)
        if path is None:
            continue
        try:
            out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            continue
        if out.returncode == 0 and "Free Software Foundation" in out.stdout:
            return path, out.stdout.splitlines()[0]
    raise NativeKernelError(f"no GCC found (looked for {', '.join(names)}; a C compiler such as "
                            "`apt-get install gcc` enables it)")


def _flags() -> List[str]:
    machine = platform.machine().lower()
    tuning = "-mcpu=native" if machine in ("aarch64", "arm64") else "-march=native"
    return [*_BASE_FLAGS, tuning]


def _cpu_identity() -> str:
    from .cpu import cpu_info

    info = cpu_info()
    return f"{platform.machine()} {info.vendor} {info.model_name} {' '.join(sorted(info.flags))}"


def _build_and_load(folder: Path) -> NativeKernels:
    if not sys.platform.startswith("linux"):
        raise NativeKernelError(f"built only on Linux (this is {sys.platform})")
    missing = [str(path) for path in (*SOURCES, *HEADERS) if not path.is_file()]
    if missing:
        raise NativeKernelError(f"its source {', '.join(missing)} is missing from this installation")
    compiler, version = _compiler()
    flags = _flags()
    digest = hashlib.sha256(b"\0".join([*(path.read_bytes() for path in (*SOURCES, *HEADERS)), version.encode(),
                                        " ".join(flags).encode(), _cpu_identity().encode()])).hexdigest()[:20]
    _private_folder(folder)
    target = folder / f"kernels-{digest}.so"
    if target.exists():
        _check_owned(target)
        try:
            return _open(target)
        except NativeKernelError:
            target.unlink()  # a damaged or foreign file: build it again, once
    _compile(compiler, flags, folder, target)
    return _open(target)


def _private_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as e:
        raise NativeKernelError(f"cannot create the kernel folder {folder} ({e.strerror}); set ${KERNEL_DIR_ENV}") from e
    _check_owned(folder)


def _check_owned(path: Path) -> None:
    """Refuse a file or folder that another user owns or that group or others may write: code is loaded from it."""
    info = path.stat()
    if info.st_uid != os.getuid():
        raise NativeKernelError(f"{path} belongs to another user (uid {info.st_uid}); refusing to load code from it")
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise NativeKernelError(f"{path} is writable by group or others (mode {stat.S_IMODE(info.st_mode):o}); "
                                "refusing to load code from it")


def _compile(compiler: str, flags: List[str], folder: Path, target: Path) -> None:
    fd, partial = tempfile.mkstemp(prefix=".build-", suffix=".so", dir=folder)
    os.close(fd)
    try:
        try:
            out = subprocess.run([compiler, *flags, "-o", partial, *map(str, SOURCES)], capture_output=True,
                                 text=True, timeout=300)
        except (OSError, subprocess.SubprocessError) as e:
            raise NativeKernelError(f"the compiler {compiler} could not run ({e})") from e
        if out.returncode != 0:
            detail = (out.stderr or out.stdout).strip().splitlines()[-1:] or [""]
            raise NativeKernelError(f"the compiler {compiler} exited with {out.returncode}: {detail[0]}")
        os.chmod(partial, 0o700)
        os.replace(partial, target)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)


_P, _I64, _INT, _F = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int, ctypes.c_float
_SOFTMAX_ARGS = [_P, _P, _I64, _P, _I64, _P, _I64, _I64, _I64, _I64, _INT]
# Every function of the library: (return type, argument types), as the C sources declare them.
_SIGNATURES = {
    "luxtts_native_version": (_INT, []),
    "luxtts_swoosh_tail": (None, [_P, _P, _I64, _F, _INT]),
    "luxtts_attend_bf16": (_INT, [_P] * 3 + [_I64] * 5 + [_INT]),
    "luxtts_attend_supports": (_INT, [_I64]),
    "luxtts_rel_softmax_bf16": (_INT, _SOFTMAX_ARGS),
    "luxtts_rel_softmax_f32": (_INT, _SOFTMAX_ARGS),
    "luxtts_rel_attention_bf16": (_INT, [_P, _P, _I64, _P, _I64] + _SOFTMAX_ARGS[1:]),
    "luxtts_rel_attention_supported": (_INT, []),
    "luxtts_qlinear": (_INT, [_P, _I64, _I64, _P, _I64] + [_P] * 7 + [_INT, _F, _INT, _INT]),
    "luxtts_qlinear_supported": (_INT, []),
    "luxtts_qlinear_panel": (_I64, []),
    "luxtts_input_qparams": (None, [_F, _F, _INT, _P, _P]),
    "luxtts_conv_module_core": (_INT, [_P] * 5 + [_I64] * 4 + [_F, _INT]),
}


def _open(path: Path) -> NativeKernels:
    import torch  # noqa: F401  (torch's OpenMP runtime must be loaded first, for the kernel to bind to it)

    mapped_before = set(openmp_runtimes())
    try:
        library = ctypes.CDLL(str(path))
        for name, (result, arguments) in _SIGNATURES.items():
            function = getattr(library, name)
            function.restype, function.argtypes = result, arguments
    except (OSError, AttributeError) as e:
        raise NativeKernelError(f"{path} does not load as the kernel library ({e})") from e
    version = library.luxtts_native_version()
    if version != ABI_VERSION:
        raise NativeKernelError(f"{path} has ABI version {version}, expected {ABI_VERSION}")
    _check_no_new_openmp(mapped_before)
    kernels = NativeKernels(library, path, tuple(d for d in range(1, 65) if library.luxtts_attend_supports(d)),
                            int(library.luxtts_qlinear_panel()) if library.luxtts_qlinear_supported() else 0,
                            bool(library.luxtts_rel_attention_supported()))
    _self_test(kernels)
    return kernels


def openmp_runtimes() -> List[str]:
    """The OpenMP runtimes mapped into this process (from /proc/self/maps), one path each."""
    try:
        lines = Path("/proc/self/maps").read_text().splitlines()
    except OSError:
        return []
    found = set()
    for line in lines:
        path = line.split()[-1] if len(line.split()) >= 6 else ""
        if any(Path(path).name.startswith(name) for name in _OPENMP_NAMES):
            found.add(path)
    return sorted(found)


def _check_no_new_openmp(mapped_before: set) -> None:
    """Loading the kernel must not have brought an OpenMP runtime of its own next to one already mapped (torch's):
    two thread pools would compete for the cores. Other libraries' private copies (ctranslate2 ships one, under
    its own soname) are no concern of ours: they were mapped before and stay apart."""
    added = set(openmp_runtimes()) - mapped_before
    if added and mapped_before:
        raise NativeKernelError(f"loading it mapped a second OpenMP runtime ({', '.join(sorted(added))}, beside "
                                f"{', '.join(sorted(mapped_before))}): two thread pools would compete for the cores")


def _self_test(kernels: NativeKernels) -> None:
    """The library computes what torch computes, on values across the range, before anything uses it."""
    import torch
    import torch.nn.functional as F

    z = torch.cat([torch.linspace(-100.0, 100.0, 4001), torch.tensor([0.0, -0.0, 1e-30, -1e-30, 1e30, -1e30,
                                                                       float("-inf"), float("nan")])])
    got = kernels.swoosh_tail(z, 0.08)
    want = F.softplus(z.double(), threshold=40.0) - 0.08 * z.double()
    finite = want.isfinite()
    error = ((got.double() - want).abs() / want.abs().clamp_min(1e-30))[finite].max().item()
    if not (error <= 1e-6 and torch.equal(got.isnan(), want.isnan())
            and torch.equal(got.isinf(), want.isinf())):
        raise NativeKernelError(f"{kernels.path} failed its self-test (relative error {error:.3g})")
    generator = torch.Generator().manual_seed(0)
    for d in kernels.attend_widths:
        for b, h, t, s in ((1, 4, 37, 37), (2, 3, 5, 64), (1, 1, 1, 1)):
            weights = torch.rand(b, h, t, s, generator=generator).softmax(-1).to(torch.bfloat16)
            values = torch.randn(b, s, h, d, generator=generator)
            got = kernels.attend_bf16(weights, values)
            want = attend_reference(weights, values)
            error = (got.double() - want).abs().max().item()
            if not error <= 1e-5:
                raise NativeKernelError(f"{kernels.path} failed its attention self-test (error {error:.3g})")

    for t, rows, first, masked in ((37, 37, 0, 0), (50, 16, 20, 5), (1, 1, 0, 0)):
        scores = torch.randn(rows, t, generator=generator).to(torch.bfloat16)
        p = torch.randn(rows, 4, generator=generator).to(torch.bfloat16)
        pos = torch.randn(4, 2 * t - 1, generator=generator).to(torch.bfloat16)
        mask = torch.zeros(t, dtype=torch.bool)
        mask[t - masked:] = masked > 0
        want = rel_softmax_reference(scores, p, pos, mask if masked else None, first)
        got = scores.clone()
        kernels.rel_softmax(got, p, pos, mask if masked else None, first)
        error = (got.double() - want).abs().max().item()
        if not error <= 4e-3:  # bfloat16's rounding of weights up to 1
            raise NativeKernelError(f"{kernels.path} failed its softmax self-test (error {error:.3g})")
        exact = scores.float()
        kernels.rel_softmax(exact, p.float(), pos.float(), mask if masked else None, first)
        error = (exact.double() - want).abs().max().item()
        if not error <= 1e-6:
            raise NativeKernelError(f"{kernels.path} failed its float32 softmax self-test (error {error:.3g})")

    if kernels.bf16_scores:
        for t, rows, first, masked, dq in ((37, 37, 0, 0, 32), (70, 16, 20, 5, 8), (1, 1, 0, 0, 2)):
            q = torch.randn(rows, dq, generator=generator).to(torch.bfloat16)
            k = torch.randn(dq, t, generator=generator).to(torch.bfloat16)
            p = torch.randn(rows, 4, generator=generator).to(torch.bfloat16)
            pos = torch.randn(4, 2 * t - 1, generator=generator).to(torch.bfloat16)
            mask = torch.zeros(t, dtype=torch.bool)
            mask[t - masked:] = masked > 0
            want = rel_softmax_reference(q.double() @ k.double(), p, pos, mask if masked else None, first)
            got = torch.empty(rows, t, dtype=torch.bfloat16)
            kernels.rel_attention(got, q, key_pairs(k), p, pos, mask if masked else None, first)
            error = (got.double() - want).abs().max().item()
            if not error <= 4e-3:
                raise NativeKernelError(f"{kernels.path} failed its attention-score self-test (error {error:.3g})")

    for b, t, c, k, padded in ((1, 37, 70, 7, False), (2, 5, 16, 9, True), (1, 1, 3, 1, False)):
        h = torch.randn(b, t, 2 * c, generator=generator) * 3.0
        weight = torch.randn(c, k, generator=generator)
        bias = torch.randn(c, generator=generator)
        pad = torch.rand(b, t, generator=generator) < 0.3 if padded else None
        got = kernels.conv_module_core(h, pad, weight, bias, 0.08)
        want = conv_module_core_reference(h, pad, weight, bias, 0.08)
        error = ((got.double() - want).abs() / want.abs().clamp_min(1.0)).max().item()
        if not error <= 1e-5:
            raise NativeKernelError(f"{kernels.path} failed its convolution self-test (error {error:.3g})")

    if kernels.int8_panel:
        for m, k, n, with_bias in ((13, 50, 70, True), (1, 4, 1, False), (20, 512, 64, True)):
            weight = torch.randint(-127, 128, (n, k), generator=generator, dtype=torch.int8)
            codes = torch.randint(-40, 300, (m, k), generator=generator)  # beyond 0 .. 255: clipped
            x, want = _qlinear_case(codes, weight, generator, with_bias)
            got = kernels.qlinear(x, kernels.pack_int8(weight), n, *kernels.int8_tables(weight, want["w_scales"]),
                                  want["bias"], want["residual"], extremes=QLINEAR_CASE_EXTREMES)
            error = ((got.double() - want["out"]).abs() / want["out"].abs().clamp_min(1.0)).max().item()
            if not error <= 1e-6:
                raise NativeKernelError(f"{kernels.path} failed its int8 GEMM self-test (error {error:.3g})")


# extremes whose quantization parameters are scale 1/16, zero point 37 (codes 0 .. 255 span -37/16 .. 218/16)
QLINEAR_CASE_EXTREMES = (-2.3125, 13.625)


def _qlinear_case(codes, weight, generator, with_bias: bool):
    """Inputs that quantize exactly to ``codes`` clipped to 0 .. 255 (scale 1/16, zero point 37), and the
    float64 result of the int8 product they define."""
    import torch

    n = weight.shape[0]
    x = ((codes - 37).float() * 0.0625).contiguous()
    w_scales = (torch.rand(n, generator=generator) * 0.01 + 1e-3).float()
    bias = torch.randn(n, generator=generator) if with_bias else None
    residual = torch.randn(codes.shape[0], n, generator=generator)
    sums = (codes.clamp(0, 255) - 37).double() @ weight.double().T  # exact: integers under 2^53
    out = sums * (torch.tensor(0.0625, dtype=torch.float32) * w_scales).double()
    if bias is not None:
        out = out + bias.double()
    return x, {"w_scales": w_scales, "bias": bias, "residual": residual, "out": out + residual.double()}


def key_pairs(k):
    """A head's keys (dq, T) (any strides, dq even) -> (dq / 2, T, 2) contiguous: for each pair of channels, each
    key's two values side by side, as :meth:`NativeKernels.rel_attention` reads them."""
    dq, t = k.shape
    if k.element_size() == 2 and k.stride(0) == 1 and k.storage_offset() % 2 == 0 and k.stride(1) % 2 == 0:
        # each pair moved as one 32-bit word: a plain transpose, 3.6x faster than copying 2-element rows
        import torch

        words = torch.empty(dq // 2, t, dtype=torch.int32, device=k.device)  # row-major even where t is 1
        words.copy_(k.T.view(torch.int32).T)
        return words.view(k.dtype).view(dq // 2, t, 2)
    return k.T.reshape(t, dq // 2, 2).transpose(0, 1).contiguous()


def rel_softmax_reference(scores, p, pos, mask, first_row: int):
    """What :meth:`NativeKernels.rel_softmax` computes, in float64 (not in place)."""
    import torch

    rows, t = scores.shape
    query = torch.arange(first_row, first_row + rows)[:, None]
    index = (t - 1) - query + torch.arange(t)[None, :]
    total = scores.double() + torch.gather(p.double() @ pos.double(), 1, index)
    if mask is not None:
        total = total.masked_fill(mask.reshape(1, t), -1000.0)
    return total.softmax(-1)


def attend_reference(weights, values):
    """What :meth:`NativeKernels.attend_bf16` computes, in float64 from the bfloat16 operands it reads."""
    b, h, t, _ = weights.shape
    per_head = values.transpose(1, 2).to(weights.dtype).double()
    return (weights.double() @ per_head).transpose(1, 2).reshape(b, t, -1)


def conv_module_core_reference(h, pad_mask, weight, bias, slope: float):
    """What :meth:`NativeKernels.conv_module_core` computes, in float64."""
    import torch.nn.functional as F

    c, k = weight.shape
    g = F.glu(h.double(), dim=-1)
    if pad_mask is not None:
        g = g.masked_fill(pad_mask[..., None], 0.0)
    z = F.conv1d(g.transpose(1, 2), weight.double()[:, None, :], bias.double(), padding=k // 2, groups=c)
    z = z.transpose(1, 2)
    return F.softplus(z) - slope * z


def single_openmp_thread() -> None:
    """Make the calling thread run torch's parallel work on itself alone, without an OpenMP pool of its own.

    For a process's helper threads (a server's voice encoding): each thread that runs torch's parallel operations
    keeps a pool of OpenMP threads while it lives, and with more of them than cores libgomp throttles its spinning
    at every barrier, which made the generating thread 1.3-1.5x slower (docs/speed.md, round 13). A team of one
    starts no thread. Set through libgomp itself, for this thread only: torch.set_num_threads would also change
    the count that threads started later begin with.
    """
    import ctypes

    import torch

    torch.get_num_threads()  # torch sets each thread's count on its first use: before ours, not over it
    for path in openmp_runtimes():
        try:
            ctypes.CDLL(path).omp_set_num_threads(1)
        except (OSError, AttributeError):
            pass
