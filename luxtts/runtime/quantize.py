"""int8 weights for the CPU: every large linear layer runs as an int8 x int8 GEMM (our AVX-512 VNNI kernel where
the CPU has it, else fbgemm's; oneDNN's on request).

Weights: symmetric per output channel. Activations: quantized on the fly per call (per tensor, asymmetric
uint8), output back in float32 — so the rest of the model (norms, attention softmax, the sampler) is unchanged.
What stays in float32, and why, is listed by :func:`quantized_report`: the attention products (both operands
are activations), the depthwise convolutions, and a few layers too small to matter.
"""

from __future__ import annotations

import contextlib
import math
import os
import warnings
from typing import Callable, Dict, Iterator, List, Optional, Tuple

import numpy as np
import torch
from torch import Tensor, nn

from ..errors import InvalidOptionError
from ..weight_source import replace_linears

# Linear layers that stay in float32: the Zipformers' input projections (the model reads their weights directly, to
# precompute the condition part once per utterance), and the per-step time/guidance embeddings and relative
# position projections, which see one row or one table per call and cost nothing.
DIRECT_WEIGHT_PATHS = ("fm_decoder.in_proj", "text_encoder.in_proj")
_KEEP_NAMES = ("linear_pos", "time_embed", "guidance_scale_embed", "time_emb")


# Which quantized kernels pack the weights. torch's default ("x86") runs dynamic int8 linears through fbgemm;
# "onednn" uses oneDNN's, which on a CPU with AMX-INT8 run on the tile unit. Measured on an Intel Xeon with AMX
# (2 threads, 2026-11-30): one 1364x512 -> 1536 GEMM 2.40 ms (x86) vs 1.23 ms (onednn); W1 one pass 2.86 vs
# 2.38 s (best of 5 alternating rounds); in `luxtts bench` (best of 3) the default path 3.59 vs 3.20 s, one pass
# 3.11 vs 3.07 s, same SNR against float32 (19.5 dB) -- but oneDNN's packed weight keeps the unpacked int8 copy
# too: +114 MB after load, peak 792 vs 635 MB. int8 is chosen for memory first, so "auto" is fbgemm ("x86")
# everywhere; LUXTTS_INT8_ENGINE=onednn trades that memory for the speed on AMX machines.
INT8_ENGINES = ("auto", "x86", "fbgemm", "onednn")
ENGINE_ENV = "LUXTTS_INT8_ENGINE"


def _has_vnni() -> bool:
    from .cpu import cpu_info

    return bool({"avx512_vnni", "avx_vnni", "amx_int8"} & set(cpu_info().flags))


def int8_engine(requested: Optional[str] = None) -> str:
    """The quantized engine int8 weights are packed for: ``requested``, else $LUXTTS_INT8_ENGINE, else "auto"
    (fbgemm through torch's "x86" engine: the leanest in memory); always one this torch build supports."""
    choice = requested if requested is not None else os.environ.get(ENGINE_ENV, "auto")
    choice = str(choice).strip().lower()
    if choice not in INT8_ENGINES:
        source = "int8 engine" if requested is not None else f"${ENGINE_ENV}"
        raise InvalidOptionError(f"{source} must be one of {list(INT8_ENGINES)}, got {choice!r}")
    supported = list(torch.backends.quantized.supported_engines)
    if choice == "auto":
        return next(e for e in ("x86", "fbgemm", "onednn") if e in supported)
    if choice not in supported:
        raise InvalidOptionError(f"int8 engine {choice!r} is not in this torch build (it has {supported})")
    return choice


@contextlib.contextmanager
def _packing_engine(engine: str) -> Iterator[None]:
    """torch's quantized engine is process-wide; it is set only while weights are packed. A packed weight keeps
    its kernels afterwards, whatever the process-wide engine is."""
    before = torch.backends.quantized.engine
    torch.backends.quantized.engine = engine
    try:
        yield
    finally:
        torch.backends.quantized.engine = before


class Int8Linear(nn.Module):
    """A frozen nn.Linear as int8 weights packed for the CPU; float32 in, float32 out, (…, in) -> (…, out).

    gemm: the native kernels (:func:`luxtts.runtime.native.kernels`) when they have an int8 GEMM and the engine
    is fbgemm's ("x86"/"fbgemm"): the weight is then packed for that kernel only, which computes fbgemm's numbers
    bit for bit; fbgemm's packing of it is made again only for the inputs that kernel does not take (empty,
    NaN or infinite), as :meth:`packed_weight`.
    """

    def __init__(self, linear: nn.Linear, reduce_range: bool, engine: Optional[str] = None, gemm=None) -> None:
        super().__init__()
        self.in_features = linear.in_features
        self.out_features = linear.out_features
        self.reduce_range = reduce_range
        self.engine = engine or torch.backends.quantized.engine
        self._packed = None
        self._gemm = gemm if gemm is not None and gemm.int8_panel and self.engine in _GIVEN_QPARAMS_ENGINES else None
        packed = None
        if self._gemm is not None:  # the lasting tensor first, below the temporaries in the heap
            packed = torch.empty(self._gemm.packed_int8_shape(self.out_features, self.in_features), dtype=torch.int8)
        w = linear.weight.detach().float().cpu()
        # max |w| per row without a float32 |w| the size of the weight: loading makes no temporary larger
        # than the int8 codes (see luxtts.weight_source.Staging)
        scale = (torch.maximum(w.amax(dim=1), w.amin(dim=1).neg_()) / 127.0).clamp(min=1e-12).double()
        # The float layer's folded offsets (see luxtts.model.linear.Linear) go into the packed bias.
        bias = _effective_bias(linear)
        if self._gemm is None:
            self._packed = _prepack(_quantize_rows(w, scale, 0, w.shape[0]), bias, self.engine)
            return
        # the codes a block of rows at a time: the quantized tensor and its int_repr copy stay small
        codes = torch.empty(w.shape, dtype=torch.int8)
        for start in range(0, w.shape[0], _QUANTIZE_ROWS):
            stop = min(w.shape[0], start + _QUANTIZE_ROWS)
            codes[start:stop] = _quantize_rows(w, scale, start, stop).int_repr()
        self._weight = self._gemm.pack_int8(codes, out=packed)
        self._scales = scale  # float64, as quantize_per_channel took them (for packed_weight)
        self._col_sums, self._w_scales = self._gemm.int8_tables(codes, scale.float())
        self._bias = None if bias is None else bias.contiguous()

    def forward(self, x: Tensor, residual: Optional[Tensor] = None, extremes: Optional[Tuple[float, float]] = None,
                out: Optional[Tensor] = None) -> Tensor:
        """extremes: x's (min, max) when the caller knows them (see :meth:`swoosh_tail`); the same result.
        out: a contiguous float32 tensor of the result's shape that the native kernel may write the result into
        (the return value is then ``out``; otherwise a new tensor, which the caller copies)."""
        if self._gemm is not None:
            y = self._native(x, residual, extremes, out)
            if y is not None:
                return y
        dtype = x.dtype
        x = x.float()
        low = high = math.nan
        if self.engine in _GIVEN_QPARAMS_ENGINES and _linear_given_qparams is not None and x.numel():
            low, high = (float(v) for v in torch.aminmax(x))
        if math.isfinite(low) and math.isfinite(high) and self._packed is not None:
            scale, zero_point = input_qparams(low, high, self.reduce_range)
            y = _linear_given_qparams(x, scale, zero_point, self._packed)
        else:  # other engines; empty inputs; NaN or infinity, which the dynamic linear handles as it always has
            y = torch.ops.quantized.linear_dynamic(x, self.packed_weight(), self.reduce_range)
        if residual is not None:
            y.add_(residual)
        return y.to(dtype)

    def swoosh_tail(self, x: Tensor, slope: float) -> Optional[Tuple[Tensor, Tuple[float, float]]]:
        """(softplus(y) - slope * y, its (min, max)) for this layer's output y = self(x), both from the native
        kernel's one pass: the feed-forward modules' hidden activation, and the range its output layer would
        otherwise read it once more to find. None where that kernel does not run (then: self(x), then the tail)."""
        if self._gemm is None or x.dtype != torch.float32:
            return None
        result = self._kernel(x, swoosh_slope=slope, report_extremes=True)
        if result is None:
            return None
        y, extremes = result
        return y.view(*x.shape[:-1], self.out_features), extremes

    def _kernel(self, x: Tensor, residual: Optional[Tensor] = None, **options):
        """The native kernel on x's rows (``options``: those of NativeKernels.qlinear); None for an empty x or
        one it leaves to fbgemm."""
        rows = x.reshape(-1, self.in_features).float().contiguous()
        if not rows.shape[0]:
            return None
        return self._gemm.qlinear(rows, self._weight, self.out_features, self._col_sums, self._w_scales, self._bias,
                                  residual, reduce_range=self.reduce_range, **options)

    def _native(self, x: Tensor, residual: Optional[Tensor], extremes: Optional[Tuple[float, float]] = None,
                out: Optional[Tensor] = None) -> Optional[Tensor]:
        """The native kernel's result, or None for the inputs it leaves to fbgemm (empty, NaN or infinite)."""
        shape = (*x.shape[:-1], self.out_features)
        fused = None
        if residual is not None and residual.shape == shape and residual.dtype == torch.float32:
            fused = residual.reshape(-1, self.out_features).contiguous()
        if out is not None and not (out.dtype == torch.float32 and x.dtype == torch.float32 and out.is_contiguous()
                                    and out.shape == shape):
            out = None
        y = self._kernel(x, fused, extremes=extremes, out=None if out is None else out.view(-1, self.out_features))
        if y is None:
            return None
        y = y.view(shape)
        if residual is not None and fused is None:  # broadcast or another dtype: added as torch adds it
            y.add_(residual)
        return y.to(x.dtype) if out is None else out

    def packed_weight(self):
        """The weight as torch's quantized engine packed it (packed anew on each call for the native kernel's layers)."""
        if self._packed is not None:
            return self._packed
        codes = self._gemm.unpack_int8(self._weight, self.out_features, self.in_features)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            q = torch._make_per_channel_quantized_tensor(codes, self._scales, torch.zeros_like(self._scales,
                                                         dtype=torch.long), 0)
        return _prepack(q, self._bias, self.engine)

    def extra_repr(self) -> str:
        kernel = "luxtts VNNI kernel" if self._gemm is not None else self.engine
        return f"in_features={self.in_features}, out_features={self.out_features}, int8 ({kernel})"


_QUANTIZE_ROWS = 128


def _quantize_rows(w: Tensor, scale: Tensor, start: int, stop: int) -> Tensor:
    """Rows start:stop of ``w`` quantized per row (symmetric qint8): the same codes as the whole at once."""
    with warnings.catch_warnings():
        # torch marks quantized tensors as deprecated; the packed-weight kernels they feed are not.
        warnings.simplefilter("ignore")
        rows = scale[start:stop]
        return torch.quantize_per_channel(w[start:stop], rows, torch.zeros_like(rows, dtype=torch.long), 0,
                                          torch.qint8)


def _prepack(q: Tensor, bias: Optional[Tensor], engine: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with _packing_engine(engine):
            return torch.ops.quantized.linear_prepack(q, bias)


# Engines whose packed weights take the input's quantization parameters from the caller. fbgemm's dynamic linear
# finds the input's range itself, in one thread, before its GEMM starts on all of them (0.2 ms of a 1364 x 512
# input); torch.aminmax runs on every thread, and given its range fbgemm quantizes and multiplies exactly as its
# dynamic linear does, bit for bit (tested).
_GIVEN_QPARAMS_ENGINES = ("x86", "fbgemm")
try:
    _linear_given_qparams = torch.ops.quantized.linear_with_input_q_dq_qweight_dq_output_fp32
except (AttributeError, RuntimeError):  # an older torch: its dynamic linear for every engine
    _linear_given_qparams = None
_F32 = np.float32
# fbgemm's floor on an activation's scale, a float32 constant
_SMALLEST_SCALE = _F32(6.1e-5)


def input_qparams(low: float, high: float, reduce_range: bool = False) -> tuple[float, int]:
    """(scale, zero_point) of the asymmetric uint8 quantization that fbgemm's dynamic linear (and
    ``torch._choose_qparams_per_tensor``) chooses for an input whose finite extremes are ``low`` and ``high``.

    The range is widened to hold 0; scale = range / (qmax - qmin) in double precision, 0.1 where its float32
    value is 0 or has no finite float32 reciprocal; a scale under 6.1e-5 is raised to it and the range
    stretched to match, in float32. The zero point comes from whichever end of the range it represents more
    exactly, rounded half to even, clipped to [qmin, qmax]. reduce_range: 7-bit activations (qmax 127).
    """
    qmin, qmax = 0, (127 if reduce_range else 255)
    levels = qmax - qmin
    lo = min(_F32(low), _F32(0.0))
    hi = max(_F32(high), _F32(0.0))
    scale = (float(hi) - float(lo)) / levels
    scale32 = _F32(scale)
    if scale32 == 0.0 or (scale32 < 1e-30 and not np.isfinite(_reciprocal32(scale32))):
        scale = 0.1
    if scale < _SMALLEST_SCALE:
        if lo == 0.0:
            hi = _SMALLEST_SCALE * _F32(levels)
        elif hi == 0.0:
            lo = -_SMALLEST_SCALE * _F32(levels)
        else:
            stretch = _SMALLEST_SCALE / _F32(scale)
            lo, hi = lo * stretch, hi * stretch
        scale = float(_SMALLEST_SCALE)
    lo_q, hi_q = float(lo) / scale, float(hi) / scale
    zero = qmin - lo_q if abs(qmin) - abs(lo_q) < abs(qmax) - abs(hi_q) else qmax - hi_q
    return scale, int(min(max(round(zero), qmin), qmax))


def _reciprocal32(x: np.float32) -> np.float32:
    with np.errstate(over="ignore", divide="ignore"):
        return _F32(1.0) / x


def _effective_bias(linear: nn.Linear) -> Optional[Tensor]:
    fold = getattr(linear, "effective_bias", None)
    bias = fold() if fold is not None else linear.bias
    return None if bias is None else bias.detach().float().cpu()


def _keeps_float(path: str) -> bool:
    return path in DIRECT_WEIGHT_PATHS or any(part in _KEEP_NAMES for part in path.split("."))


def int8_transform(engine: Optional[str] = None) -> Callable[[str, nn.Module], nn.Module]:
    """``(name, linear) -> module`` for :func:`luxtts.model.load_acoustic_model`'s ``linear_transform``: each
    linear layer is quantized as soon as it is loaded, so the float32 model never exists (peak memory ~ the
    int8 model plus one float32 layer). engine: see :func:`int8_engine`."""
    _check_kernels()
    engine = int8_engine(engine)
    reduce_range = not _has_vnni()  # without VNNI, 8-bit products can saturate the 16-bit accumulators
    from . import native

    gemm = native.kernels()  # built now, not in the first forward; None where it cannot be (fbgemm's then)

    def transform(name: str, linear: nn.Module) -> nn.Module:
        if not isinstance(linear, nn.Linear) or _keeps_float(name):
            return linear
        return Int8Linear(linear, reduce_range, engine, gemm)

    return transform


def check_quantize(quantize) -> None:
    """``quantize`` must be None or "int8"."""
    if quantize is not None and quantize != "int8":
        raise InvalidOptionError(f"quantize must be None or 'int8', got {quantize!r}")


def _check_kernels() -> None:
    if not torch.backends.quantized.supported_engines:
        raise InvalidOptionError("this torch build has no quantized CPU kernels; int8 is unavailable")


def quantize_int8(model: nn.Module) -> nn.Module:
    """Replace every nn.Linear (except the few listed in ``_KEEP_*``) by :class:`Int8Linear`, in place.

    The model must be on the CPU in float32. Returns it. Its state dict no longer holds those weights.
    Loading with ``linear_transform=int8_transform()`` gives the same model with a lower memory peak.
    """
    params = list(model.parameters())
    if params and (params[0].device.type != "cpu" or any(p.dtype != torch.float32 for p in params)):
        raise InvalidOptionError("quantize='int8' needs the model on the CPU in float32 (dtype=None / float32)")
    replace_linears(model, int8_transform())
    return model


def quantized_report(model: nn.Module) -> Dict[str, List[str]]:
    """Which linear layers are int8 and which remain float32 (with their weight counts)."""
    int8, fp32 = [], []
    for name, module in model.named_modules():
        if isinstance(module, Int8Linear):
            int8.append(f"{name} ({module.in_features}x{module.out_features})")
        elif isinstance(module, nn.Linear):
            fp32.append(f"{name} ({module.weight.numel()} weights)")
    return {"int8": int8, "float32": fp32}
