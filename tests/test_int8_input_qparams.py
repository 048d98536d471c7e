"""int8 linears with the input's range found on every thread (luxtts.runtime.quantize): the same numbers as
fbgemm's dynamic linear, bit for bit, and its behaviour kept wherever the fast path does not apply."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import luxtts.runtime.quantize as quantize
from luxtts.runtime import Int8Linear
from luxtts.runtime.quantize import input_qparams

FBGEMM = [e for e in ("x86", "fbgemm") if e in torch.backends.quantized.supported_engines]


def test_the_pinned_torch_has_the_given_range_linear():
    # torch==2.13.0's x86 CPU wheel (README, .ci/run); an older torch falls back to the dynamic linear everywhere
    assert quantize._linear_given_qparams is not None and FBGEMM
    assert "onednn" in torch.backends.quantized.supported_engines


def _packed(linear: torch.nn.Linear, engine: str):
    layer = Int8Linear(linear, reduce_range=False, engine=engine)
    return layer, layer._packed


def _dynamic(x: torch.Tensor, packed, reduce_range: bool = False) -> torch.Tensor:
    return torch.ops.quantized.linear_dynamic(x.float(), packed, reduce_range)


magnitudes = st.floats(min_value=-42, max_value=8)  # log10 of the values' scale: denormals to 1e8
finite = st.floats(allow_nan=False, allow_infinity=False, width=32)


@settings(max_examples=400, deadline=None)
@given(values=st.lists(finite, min_size=1, max_size=12), exponent=magnitudes, shift=st.sampled_from([0.0, 1.0, -1.0]),
       reduce_range=st.booleans())
def test_parameters_are_torchs_own_choice(values, exponent, shift, reduce_range):
    x = torch.tensor(values, dtype=torch.float32)
    x = (x / (x.abs().max() + 1) * 10.0**exponent + shift * 10.0**exponent).float()
    if not bool(torch.isfinite(x).all()):
        return
    low, high = torch.aminmax(x)
    assert input_qparams(float(low), float(high), reduce_range) == torch._choose_qparams_per_tensor(x, reduce_range)


@pytest.mark.parametrize("values", [[0.0, 0.0], [3.0, 3.0], [-2.0, -2.0], [1e-7, 2e-7], [-1e-7, 1e-7],
                                    [-3e-39, 1e-39], [0.0, 1e-40], [-1e30, 1e30]])
@pytest.mark.parametrize("reduce_range", [False, True])
def test_parameters_at_the_edges(values, reduce_range):
    x = torch.tensor(values, dtype=torch.float32)
    scale, zero = input_qparams(*values, reduce_range)
    assert (scale, zero) == torch._choose_qparams_per_tensor(x, reduce_range)
    assert scale > 0 and 0 <= zero <= (127 if reduce_range else 255)


@pytest.mark.parametrize("engine", FBGEMM)
@pytest.mark.parametrize("shape,scale,offset", [((1364, 512), 3.0, 0.5), ((2, 37, 512), 1e-6, 0.0),
                                                ((5, 512), 40.0, -30.0), ((1, 512), 0.0, 2.0), ((7, 512), 0.0, 0.0)])
def test_output_equals_the_dynamic_linear_bit_for_bit(engine, shape, scale, offset, monkeypatch):
    torch.manual_seed(0)
    linear = torch.nn.Linear(512, 96)
    layer, packed = _packed(linear, engine)
    calls = []
    given_op = quantize._linear_given_qparams
    monkeypatch.setattr(quantize, "_linear_given_qparams", lambda *a: calls.append(a[1:3]) or given_op(*a))
    x = torch.randn(*shape) * scale + offset
    residual = torch.randn(*shape[:-1], 96)
    assert torch.equal(layer(x), _dynamic(x, packed))
    assert torch.equal(layer(x, residual), _dynamic(x, packed) + residual)
    assert len(calls) == 2  # the fast path ran, it did not fall back


@pytest.mark.parametrize("engine", FBGEMM)
def test_reduce_range_layers_match_too(engine):
    torch.manual_seed(1)
    linear = torch.nn.Linear(64, 16)
    layer = Int8Linear(linear, reduce_range=True, engine=engine)
    x = torch.randn(33, 64) * 5
    assert torch.equal(layer(x), _dynamic(x, layer._packed, True))


@pytest.mark.parametrize("engine", FBGEMM)
def test_fallbacks_keep_the_dynamic_linears_behaviour(engine, monkeypatch):
    linear = torch.nn.Linear(16, 8)
    layer, packed = _packed(linear, engine)
    monkeypatch.setattr(quantize, "_linear_given_qparams", lambda *a: pytest.fail("fast path on a fallback input"))
    empty = torch.empty(0, 16)
    assert layer(empty).shape == (0, 8)
    x = torch.randn(3, 16)
    x[0, 0] = math.inf
    assert torch.equal(layer(x).isnan(), _dynamic(x, packed).isnan())
    x[0, 0] = math.nan
    with pytest.raises(RuntimeError, match="min should be less than or equal to max"):
        _dynamic(x, packed)
    with pytest.raises(RuntimeError, match="min should be less than or equal to max"):
        layer(x)


def test_other_engines_run_their_dynamic_linear(monkeypatch):
    linear = torch.nn.Linear(32, 8)
    layer, packed = _packed(linear, "onednn")
    monkeypatch.setattr(quantize, "_linear_given_qparams", lambda *a: pytest.fail("oneDNN weights take no given range"))
    x = torch.randn(4, 32)
    assert torch.equal(layer(x), _dynamic(x, packed))


def test_half_precision_inputs_come_back_in_their_dtype():
    linear = torch.nn.Linear(32, 8)
    layer, packed = _packed(linear, FBGEMM[0])
    x = torch.randn(6, 32).bfloat16()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = layer(x)
    assert y.dtype == torch.bfloat16
    assert torch.equal(y, _dynamic(x, packed).bfloat16())
    assert np.isfinite(y.float().numpy()).all()
