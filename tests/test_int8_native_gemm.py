"""The native int8 GEMM (luxtts/runtime/native/qlinear.c): fbgemm's numbers bit for bit on every shape, its
fallbacks, the packed layout, and which layers use it. On a CPU without AVX-512 VNNI the library has no such
kernel and the layers keep fbgemm's: that is checked there instead."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import luxtts.runtime.quantize as quantize
from luxtts.errors import NativeKernelError
from luxtts.runtime import Int8Linear, int8_transform, native
from luxtts.runtime.cpu import cpu_info


@pytest.fixture(autouse=True)
def kernel_dir(tmp_path_factory, monkeypatch):
    monkeypatch.setenv(native.KERNEL_DIR_ENV, str(tmp_path_factory.getbasetemp() / "int8-kernels"))
    monkeypatch.setenv(native.NATIVE_ENV, "auto")
    native.reset()
    yield
    native.reset()


def has_vnni() -> bool:
    return "avx512_vnni" in cpu_info().flags


def gemm_or_its_absence():
    """The kernels when the library has the int8 GEMM; elsewhere None, after checking why it has none."""
    kernels = native.kernels()
    assert kernels is not None
    if kernels.int8_panel:
        assert has_vnni()
        return kernels
    assert not has_vnni()
    with pytest.raises(NativeKernelError, match="VNNI"):
        kernels.qlinear(torch.zeros(1, 4), torch.zeros(1, 1, 64, 4, dtype=torch.int8), 1,
                        torch.zeros(64, dtype=torch.int32), torch.ones(64), None)
    return None


def pair(linear: torch.nn.Linear, reduce_range: bool = False):
    """(fbgemm's layer, the native kernel's layer) of one float layer."""
    gemm = gemm_or_its_absence()
    torch_layer = Int8Linear(linear, reduce_range, "x86")
    native_layer = Int8Linear(linear, reduce_range, "x86", gemm)
    assert (native_layer._gemm is not None) == (gemm is not None)
    return torch_layer, native_layer


def test_the_library_has_the_gemm_exactly_where_the_cpu_has_vnni():
    kernels = native.kernels()
    assert bool(kernels.int8_panel) == has_vnni()
    assert ("no int8 GEMM" in native.status()) != has_vnni()


@settings(max_examples=60, deadline=None)
@given(rows=st.integers(1, 40), k=st.integers(1, 140), n=st.integers(1, 200), scale=st.sampled_from([1e-6, 0.5, 3.0, 80.0]),
       offset=st.sampled_from([0.0, 0.7, -5.0]), bias=st.booleans(), reduce_range=st.booleans(), seed=st.integers(0, 99))
def test_every_shape_gives_fbgemms_numbers_bit_for_bit(rows, k, n, scale, offset, bias, reduce_range, seed):
    # rows not a multiple of the 6-row tile, k of 4, n of the 64-channel panel: every padding path
    torch.manual_seed(seed)
    torch_layer, native_layer = pair(torch.nn.Linear(k, n, bias=bias), reduce_range)
    x = torch.randn(rows, k) * scale + offset * scale
    residual = torch.randn(rows, n)
    assert torch.equal(native_layer(x), torch_layer(x))
    assert torch.equal(native_layer(x, residual), torch_layer(x, residual))


@pytest.mark.parametrize("shape,k,n", [((256, 512), 512, 1920), ((1364, 48), 48, 512), ((2, 37, 384), 384, 272),
                                       ((7, 1536), 1536, 512)])
def test_the_models_shapes_match_on_one_thread_and_on_two(shape, k, n):
    torch.manual_seed(0)
    torch_layer, native_layer = pair(torch.nn.Linear(k, n))
    x = torch.randn(*shape) * 2 + 0.3
    want = torch_layer(x)
    before = torch.get_num_threads()
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            assert torch.equal(native_layer(x), want)
    finally:
        torch.set_num_threads(before)
    assert native_layer(x).shape == (*shape[:-1], n)


@pytest.mark.parametrize("rows", [385, 465, 929, 2305])  # 65 tiles and up: the rows go out in several blocks
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_rows_in_several_blocks_are_each_computed_once_whatever_the_team(rows, threads):
    torch.manual_seed(rows)
    torch_layer, native_layer = pair(torch.nn.Linear(24, 130))  # 3 panels, the last one partly padding
    x = torch.randn(rows, 24) * 3
    residual = torch.randn(rows, 130)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(threads)
        assert torch.equal(native_layer(x, residual), torch_layer(x, residual))
    finally:
        torch.set_num_threads(before)


def test_a_residual_it_cannot_fuse_is_added_after():
    torch_layer, native_layer = pair(torch.nn.Linear(32, 24))
    x = torch.randn(5, 32)
    for residual in (torch.randn(1, 24), torch.randn(5, 24).double(), torch.randn(24, 5).T):
        assert torch.equal(native_layer(x, residual), torch_layer(x, residual))


def test_fallback_inputs_behave_as_the_dynamic_linear():
    torch_layer, native_layer = pair(torch.nn.Linear(16, 8))
    assert native_layer(torch.empty(0, 16)).shape == (0, 8)
    x = torch.randn(3, 16)
    x[0, 0] = math.inf
    assert torch.equal(native_layer(x).isnan(), torch_layer(x).isnan())
    x[0, 0] = math.nan
    with pytest.raises(RuntimeError, match="min should be less than or equal to max"):
        native_layer(x)


def test_half_precision_comes_back_in_its_dtype():
    torch_layer, native_layer = pair(torch.nn.Linear(32, 8))
    x = torch.randn(6, 32).bfloat16()
    y = native_layer(x)
    assert y.dtype == torch.bfloat16 and torch.equal(y, torch_layer(x))


def test_the_native_layer_keeps_one_packed_weight_and_can_rebuild_fbgemms():
    linear = torch.nn.Linear(50, 70)
    torch_layer, native_layer = pair(linear)
    if native_layer._gemm is None:
        assert native_layer._packed is not None
        return
    assert native_layer._packed is None  # no second copy of the weights
    assert native_layer._weight.dtype == torch.int8
    x = torch.randn(9, 50)
    rebuilt = native_layer.packed_weight()
    assert torch.equal(torch.ops.quantized.linear_dynamic(x, rebuilt, False),
                       torch.ops.quantized.linear_dynamic(x, torch_layer._packed, False))


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 150), k=st.integers(1, 70), seed=st.integers(0, 99))
def test_packing_puts_each_weight_where_the_kernel_reads_it(n, k, seed):
    kernels = gemm_or_its_absence()
    if kernels is None:
        return
    weight = torch.randint(-127, 128, (n, k), dtype=torch.int8, generator=torch.Generator().manual_seed(seed))
    packed = kernels.pack_int8(weight)
    panel = kernels.int8_panel
    assert packed.shape == (-(-n // panel), -(-k // 4), panel, 4)
    flat = packed.permute(0, 2, 1, 3).reshape(packed.shape[0] * panel, -1)
    assert torch.equal(flat[:n, :k], weight)
    assert not flat[n:].any() and not flat[:, k:].any()


def test_the_self_test_cases_are_exact():
    # the self-test's inputs quantize to the codes it chose, so its float64 reference is the exact product
    kernels = gemm_or_its_absence()
    if kernels is None:
        return
    generator = torch.Generator().manual_seed(3)
    codes = torch.randint(-40, 300, (6, 9), generator=generator)
    weight = torch.randint(-127, 128, (5, 9), dtype=torch.int8, generator=generator)
    x, want = native._qlinear_case(codes, weight, generator, True)
    got = kernels.qlinear(x, kernels.pack_int8(weight), 5, *kernels.int8_tables(weight, want["w_scales"]),
                          want["bias"], want["residual"], extremes=native.QLINEAR_CASE_EXTREMES)
    assert kernels.input_qparams(*native.QLINEAR_CASE_EXTREMES, False) == (0.0625, 37)
    assert (got.double() - want["out"]).abs().max().item() < 1e-5
    broken = want["out"].clone()
    broken[0, 0] += 1.0
    assert (got.double() - broken).abs().max().item() > 0.5


def test_int8_transform_uses_the_kernel_unless_native_is_off(monkeypatch):
    linear = torch.nn.Linear(64, 64)
    kernels = gemm_or_its_absence()
    layer = int8_transform("x86")("decoder.layer.ff", linear)
    assert (layer._gemm is not None) == (kernels is not None)
    assert ("luxtts VNNI kernel" in repr(layer)) == (kernels is not None)
    monkeypatch.setenv(native.NATIVE_ENV, "off")
    native.reset()
    layer = int8_transform("x86")("decoder.layer.ff", linear)
    assert layer._gemm is None and layer._packed is not None


def test_onednn_layers_keep_onednns_kernel():
    kernels = gemm_or_its_absence()
    layer = Int8Linear(torch.nn.Linear(32, 8), False, "onednn", kernels)
    assert layer._gemm is None
    x = torch.randn(4, 32)
    assert torch.equal(layer(x), torch.ops.quantized.linear_dynamic(x, layer._packed, False))


def test_a_library_without_the_gemm_leaves_fbgemm_in_place(monkeypatch):
    kernels = native.kernels()
    without = dataclasses.replace(kernels, int8_panel=0)
    layer = Int8Linear(torch.nn.Linear(32, 8), False, "x86", without)
    assert layer._gemm is None and layer._packed is not None
    calls = []
    given = quantize._linear_given_qparams
    monkeypatch.setattr(quantize, "_linear_given_qparams", lambda *a: calls.append(1) or given(*a))
    assert layer(torch.randn(3, 32)).shape == (3, 8)
    assert calls == [1]


@settings(max_examples=300, deadline=None)
@given(low=st.floats(allow_nan=False, allow_infinity=False, width=32),
       high=st.floats(allow_nan=False, allow_infinity=False, width=32), reduce_range=st.booleans())
def test_the_c_quantization_parameters_are_pythons(low, high, reduce_range):
    kernels = gemm_or_its_absence()
    if kernels is None:
        return
    low, high = min(low, high), max(low, high)
    assert kernels.input_qparams(low, high, reduce_range) == quantize.input_qparams(low, high, reduce_range)


@pytest.mark.parametrize("low,high", [(0.0, 0.0), (3.0, 3.0), (-2.0, -2.0), (1e-7, 2e-7), (-1e-7, 1e-7),
                                      (-3e-39, 1e-39), (0.0, 1e-40), (-1e30, 1e30), (-0.0, 0.0), (-5.0, 0.0)])
@pytest.mark.parametrize("reduce_range", [False, True])
def test_the_c_quantization_parameters_at_the_edges(low, high, reduce_range):
    kernels = gemm_or_its_absence()
    if kernels is None:
        return
    assert kernels.input_qparams(low, high, reduce_range) == quantize.input_qparams(low, high, reduce_range)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("where", [0, 17, 639])  # in either thread's share of the input, the tail of a vector
def test_the_dynamic_kernel_leaves_non_finite_inputs_alone(bad, where):
    kernels = gemm_or_its_absence()
    if kernels is None:
        return
    _, layer = pair(torch.nn.Linear(64, 16))
    x = torch.randn(10, 64)
    x.view(-1)[where] = bad
    assert kernels.qlinear(x, layer._weight, 16, layer._col_sums, layer._w_scales, layer._bias) is None


@settings(max_examples=40, deadline=None)
@given(rows=st.integers(1, 30), k=st.integers(1, 90), n=st.integers(1, 150), scale=st.sampled_from([0.1, 2.0, 50.0]),
       seed=st.integers(0, 99))
def test_the_swoosh_epilogue_is_the_tail_of_the_layers_output(rows, k, n, scale, seed):
    torch.manual_seed(seed)
    _, layer = pair(torch.nn.Linear(k, n))
    x = torch.randn(rows, k) * scale
    fused = layer.swoosh_tail(x, 0.08)
    if layer._gemm is None:
        assert fused is None
        return
    hidden, (low, high) = fused
    want = layer._gemm.swoosh_tail(layer(x), 0.08)
    assert torch.equal(hidden, want)
    assert (low, high) == tuple(float(v) for v in torch.aminmax(want))
    _, following = pair(torch.nn.Linear(n, 5))
    assert torch.equal(following(hidden, extremes=(low, high)), following(hidden))  # the range it would have found


def test_a_known_input_range_changes_nothing_and_a_non_finite_one_is_refused():
    torch_layer, layer = pair(torch.nn.Linear(40, 30))
    x = torch.randn(9, 40)
    low, high = (float(v) for v in torch.aminmax(x))
    assert torch.equal(layer(x, extremes=(low, high)), torch_layer(x))
    if layer._gemm is not None:
        assert layer._gemm.qlinear(x, layer._weight, 30, layer._col_sums, layer._w_scales, layer._bias,
                                   extremes=(math.nan, math.nan)) is None


@pytest.mark.parametrize("rows", [1, 7, 256, 300])  # 300: two row blocks of the feed-forward module
def test_feed_forward_with_the_fused_tail_gives_the_unfused_numbers(rows, monkeypatch):
    from luxtts.model import layers

    torch.manual_seed(rows)
    ff = layers.FeedForward(64, 192).eval()
    gemm = gemm_or_its_absence()
    ff.in_proj = Int8Linear(ff.in_proj, False, "x86", gemm)
    ff.out_proj = Int8Linear(ff.out_proj, False, "x86", gemm)
    x, residual = torch.randn(1, rows, 64) * 2, torch.randn(1, rows, 64)
    slopes = []
    if gemm is not None:
        qlinear = native.NativeKernels.qlinear
        monkeypatch.setattr(native.NativeKernels, "qlinear",
                            lambda self, *a, **kw: slopes.append(kw.get("swoosh_slope")) or qlinear(self, *a, **kw))
    with torch.inference_mode():
        got = ff(x, residual)
        blocks = [ff.out_proj(layers._swoosh_tail(ff.in_proj(x[:, i:i + 256])), residual[:, i:i + 256])
                  for i in range(0, rows, 256)]
    assert torch.equal(got, torch.cat(blocks, 1))
    if gemm is not None:
        assert slopes[: 2 * len(blocks)].count(layers._SWOOSH_SLOPE) == len(blocks)  # the fused path ran


def test_feed_forward_leaves_non_finite_inputs_to_the_unfused_path():
    from luxtts.model import layers

    ff = layers.FeedForward(32, 64).eval()
    gemm = gemm_or_its_absence()
    ff.in_proj = Int8Linear(ff.in_proj, False, "x86", gemm)
    ff.out_proj = Int8Linear(ff.out_proj, False, "x86", gemm)
    x = torch.randn(1, 5, 32)
    x[0, 2, 3] = math.inf
    assert ff.in_proj.swoosh_tail(x, 0.08) is None
    with torch.inference_mode():
        got = ff(x)
        want = ff.out_proj(layers._swoosh_tail(ff.in_proj(x)))
    assert torch.equal(got.isnan(), want.isnan())
    assert torch.equal(got.nan_to_num(), want.nan_to_num())


def test_a_given_output_tensor_is_written_in_place_or_left_to_the_caller():
    torch_layer, layer = pair(torch.nn.Linear(24, 40))
    x, residual = torch.randn(2, 6, 24), torch.randn(2, 6, 40)
    want = torch_layer(x, residual)
    target = torch.full((2, 6, 40), math.nan)
    got = layer(x, residual, out=target)
    assert torch.equal(got, want)
    assert (got is target) == (layer._gemm is not None)  # the kernel writes there; fbgemm's result is returned
    rows = torch.full((3, 12, 40), math.nan)
    got = layer(x.reshape(12, 24), residual.reshape(12, 40), out=rows[1])  # a contiguous slice of a bigger tensor
    assert torch.equal(got, want.reshape(12, 40))
    assert rows[0].isnan().all() and rows[2].isnan().all()
    strided = torch.empty(40, 6).T  # the result's shape, not contiguous: a new tensor instead
    got = layer(x[0], residual[0], out=strided)
    assert got is not strided and torch.equal(got, torch_layer(x[0], residual[0]))
    if layer._gemm is not None:
        with pytest.raises(NativeKernelError, match="out must be a contiguous"):
            layer._gemm.qlinear(x[0].contiguous(), layer._weight, 40, layer._col_sums, layer._w_scales, layer._bias,
                                out=torch.empty(5, 40))


def test_threads_calling_at_once_keep_their_own_scratch():
    # a server runs requests on several Python threads; each keeps its own kernel scratch (native/scratch.h)
    from concurrent.futures import ThreadPoolExecutor

    torch_layer, layer = pair(torch.nn.Linear(96, 80))
    inputs = [torch.randn(rows, 96) * (1 + rows % 3) for rows in (5, 300, 37, 128, 1, 250, 64, 9)]
    wants = [torch_layer(x) for x in inputs]
    with ThreadPoolExecutor(max_workers=4) as pool:
        for _ in range(5):
            gots = list(pool.map(layer, inputs))
            assert all(torch.equal(got, want) for got, want in zip(gots, wants))
