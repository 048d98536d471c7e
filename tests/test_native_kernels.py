"""luxtts.runtime.native: the C kernels (Swoosh, bfloat16 value products) are built with this machine's GCC, cached safely, reused, refused when
its folder or file cannot be trusted, and computes what torch computes; without a compiler everything still runs."""

from __future__ import annotations

import dataclasses
import math
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from luxtts.errors import InvalidOptionError, NativeKernelError
from luxtts.runtime import native
from luxtts.runtime.attention import native_bfloat16


@pytest.fixture
def kernel_dir(tmp_path, monkeypatch):
    folder = tmp_path / "kernels"
    monkeypatch.setenv(native.KERNEL_DIR_ENV, str(folder))
    monkeypatch.setenv(native.NATIVE_ENV, "auto")
    native.reset()
    yield folder
    native.reset()


def built_files(folder: Path):
    return sorted(p.name for p in folder.iterdir())


def reference(z: torch.Tensor) -> torch.Tensor:
    z = z.double()
    return F.softplus(z, threshold=40.0) - 0.08 * z


def test_builds_into_a_private_folder_and_reuses_the_build(kernel_dir, monkeypatch):
    kernels = native.kernels()
    assert kernels is not None and native.unavailable_reason() is None
    [name] = built_files(kernel_dir)
    assert name.startswith("kernels-") and name.endswith(".so")
    assert stat.S_IMODE(kernel_dir.stat().st_mode) == 0o700
    assert str(kernels.path) in native.status()

    def no_compiler(*args, **kwargs):
        raise AssertionError("a cached kernel was compiled again")

    native.reset()
    monkeypatch.setattr(native, "_compile", no_compiler)
    again = native.kernels()
    assert again is not None and again.path == kernels.path


def test_another_librarys_openmp_copy_does_not_stop_it(kernel_dir):
    # faster-whisper's ctranslate2 maps a private libgomp; the kernel binds to torch's and is used all the same.
    script = ("import ctranslate2, torch; from luxtts.runtime import native; k = native.kernels(); "
              "print(len(native.openmp_runtimes()), k is not None, native.unavailable_reason())")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["2", "True", "None"]


def test_a_second_openmp_runtime_brought_by_the_kernel_is_refused(monkeypatch):
    torch_gomp, private_copy, system_gomp = "/torch/lib/libgomp.so.1", "/other/libgomp-1234.so.1", "/usr/lib/libgomp.so.1"
    monkeypatch.setattr(native, "openmp_runtimes", lambda: [torch_gomp, private_copy])
    native._check_no_new_openmp({torch_gomp, private_copy})  # the kernel bound to what was there
    monkeypatch.setattr(native, "openmp_runtimes", lambda: [torch_gomp, system_gomp])
    with pytest.raises(NativeKernelError, match=r"mapped a second OpenMP runtime \(/usr/lib/libgomp.so.1, beside "
                                                r"/torch/lib/libgomp.so.1\)"):
        native._check_no_new_openmp({torch_gomp})
    native._check_no_new_openmp(set())  # torch without OpenMP: the kernel's runtime is the only one


def test_off_gives_none_and_a_bad_mode_names_the_variable(kernel_dir, monkeypatch):
    monkeypatch.setenv(native.NATIVE_ENV, "off")
    assert native.kernels() is None
    assert native.unavailable_reason() == "$LUXTTS_NATIVE=off"
    assert not kernel_dir.exists()
    monkeypatch.setenv(native.NATIVE_ENV, "fast")
    with pytest.raises(InvalidOptionError, match=r"\$LUXTTS_NATIVE must be one of \['auto', 'off', 'on'\], got 'fast'"):
        native.kernels()


def test_the_answer_is_kept_and_follows_the_environment(kernel_dir, tmp_path, monkeypatch):
    loaded = native.kernels()
    assert loaded is not None and native.kernels() is loaded
    monkeypatch.setenv(native.NATIVE_ENV, "off")
    assert native.kernels() is None
    monkeypatch.setenv(native.NATIVE_ENV, "auto")
    assert native.kernels() is loaded
    other = tmp_path / "other-kernels"
    monkeypatch.setenv(native.KERNEL_DIR_ENV, str(other))
    moved = native.kernels()
    assert moved is not loaded and moved.path.parent == other and other.is_dir()


@pytest.mark.parametrize("compiler", ["no-such-compiler-here", "clang-lookalike"])
def test_without_gcc_auto_runs_without_it_and_on_says_why(kernel_dir, tmp_path, monkeypatch, compiler):
    if compiler == "clang-lookalike":
        fake = tmp_path / "clang-lookalike"
        fake.write_text("#!/bin/sh\necho 'clang version 17.0.6'\n")
        fake.chmod(0o755)
        compiler = str(fake)
    monkeypatch.setenv("CC", compiler)
    assert native.kernels() is None
    assert "no GCC found" in native.unavailable_reason() and compiler in native.unavailable_reason()
    assert native.status().startswith("not used: no GCC found")
    monkeypatch.setenv(native.NATIVE_ENV, "on")
    with pytest.raises(NativeKernelError, match="LUXTTS_NATIVE=on but the native kernel is unavailable: no GCC"):
        native.kernels()


def test_a_failing_compiler_leaves_nothing_half_written(kernel_dir, tmp_path, monkeypatch):
    fake = tmp_path / "gcc"
    fake.write_text("#!/bin/sh\nif [ \"$1\" = --version ]; then echo 'gcc (Fake) 1.0'; "
                    "echo 'Copyright (C) Free Software Foundation, Inc.'; exit 0; fi\n"
                    "echo 'fatal error: out of cheese' >&2\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setenv("CC", str(fake))
    assert native.kernels() is None
    assert native.unavailable_reason() == f"the compiler {fake} exited with 3: fatal error: out of cheese"
    assert built_files(kernel_dir) == []


def test_refuses_a_folder_others_can_write(kernel_dir):
    kernel_dir.mkdir(mode=0o700)
    kernel_dir.chmod(0o777)
    assert native.kernels() is None
    assert "writable by group or others (mode 777)" in native.unavailable_reason()
    assert built_files(kernel_dir) == []


def test_refuses_a_cached_file_others_can_write(kernel_dir):
    kernels = native.kernels()
    kernels.path.chmod(0o766)
    native.reset()
    assert native.kernels() is None
    assert f"{kernels.path} is writable by group or others" in native.unavailable_reason()


def test_a_damaged_cached_file_is_built_again(kernel_dir):
    # In a fresh process: this one has the library mapped already, and dlopen would hand back that copy.
    path = native.kernels().path
    path.unlink()
    path.write_bytes(b"\x7fELF but not really")
    path.chmod(0o700)
    script = "from luxtts.runtime import native; k = native.kernels(); print(k.path if k else native.unavailable_reason())"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(path)
    assert path.read_bytes()[:4] == b"\x7fELF" and path.stat().st_size > 1000
    assert built_files(kernel_dir) == [path.name]


def test_a_folder_that_cannot_be_made_is_reported(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(native.KERNEL_DIR_ENV, str(blocker / "kernels"))
    native.reset()
    try:
        assert native.kernels() is None
        assert native.unavailable_reason().startswith(f"cannot create the kernel folder {blocker / 'kernels'}")
    finally:
        native.reset()


@pytest.mark.parametrize("n", [0, 1, 7, 16, 17, 65535, 65536, 65537, 300001])
def test_every_size_matches_torch_and_threads_do_not_change_a_bit(kernel_dir, n):
    kernels = native.kernels()
    torch.manual_seed(n)
    z = torch.randn(n) * 30
    got = kernels.swoosh_tail(z, 0.08)
    assert got.shape == z.shape and got.dtype == torch.float32
    if n:
        ref = reference(z)
        assert ((got.double() - ref).abs() / ref.abs()).max().item() <= 1e-6
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        single = kernels.swoosh_tail(z, 0.08)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(got, single)


def test_the_model_uses_it_and_gives_what_torch_gives(kernel_dir, monkeypatch):
    from luxtts.model import layers

    torch.manual_seed(0)
    z = torch.randn(2, 300, 1536) * 8
    with torch.inference_mode():
        fused = layers._swoosh_tail(z)
        monkeypatch.setenv(native.NATIVE_ENV, "off")
        plain = layers._swoosh_tail(z)
    assert not torch.equal(fused, plain)  # two formulations really ran
    assert ((fused - plain).abs() / plain.abs()).max().item() <= 1e-6
    assert os.listdir(kernel_dir)


def test_luxtts_checks_the_setting_and_builds_at_load(folder, kernel_dir, tmp_path, monkeypatch):
    from luxtts import LuxTTS

    monkeypatch.setenv(native.NATIVE_ENV, "yes")
    with pytest.raises(InvalidOptionError, match="LUXTTS_NATIVE must be one of"):
        LuxTTS(str(folder), device="cpu", threads=None)
    monkeypatch.setenv(native.NATIVE_ENV, "on")
    monkeypatch.setenv("CC", str(tmp_path / "absent-gcc"))
    with pytest.raises(NativeKernelError, match="no GCC found"):
        LuxTTS(str(folder), device="cpu", threads=None)
    monkeypatch.delenv("CC")
    native.reset()
    LuxTTS(str(folder), device="cpu", threads=None)
    assert len(built_files(kernel_dir)) == 1  # built at load, before the first request


# The value kernel is built where the CPU has AVX-512 BF16 (where int8 models keep their attention in bfloat16).
def value_kernel_or_its_refusal():
    """The kernels when this CPU has the value kernel; elsewhere None, after checking that the library has no
    value widths and refuses the product with a reason (so the tests below check something on every CPU)."""
    kernels = native.kernels()
    if kernels.attend_widths:
        return kernels
    assert not native_bfloat16()
    with pytest.raises(NativeKernelError, match="value heads"):
        kernels.attend_bf16(torch.rand(1, 1, 2, 2).to(torch.bfloat16), torch.randn(1, 2, 1, 12))
    return None


def test_a_cpu_with_bfloat16_products_gets_the_value_kernel(kernel_dir):
    assert native.kernels().attend_widths == ((8, 12) if native_bfloat16() else ())
    assert ("no bfloat16 value products" not in native.status()) == native_bfloat16()


def test_without_the_value_kernel_attend_runs_torchs_product(kernel_dir, monkeypatch):
    from luxtts.model.linear import attend

    kernels = native.kernels()
    without = dataclasses.replace(kernels, attend_widths=())
    monkeypatch.setattr(native, "kernels", lambda: without)
    weights = torch.rand(1, 4, 20, 20).softmax(-1).to(torch.bfloat16)
    values = torch.randn(1, 20, 4, 12)
    with torch.inference_mode():
        got = attend(weights, values)
    per_head = values.transpose(1, 2).to(torch.bfloat16, memory_format=torch.contiguous_format)
    assert torch.equal(got, torch.matmul(weights, per_head).transpose(1, 2).reshape(1, 20, -1).float())


@pytest.mark.parametrize("d", [8, 12])
@pytest.mark.parametrize("b,h,t,s", [(1, 4, 1, 1), (1, 4, 667, 667), (2, 3, 33, 31), (1, 1, 17, 32), (1, 2, 5, 65),
                                     (1, 4, 130, 1364)])
def test_value_kernel_sums_the_bfloat16_operands_in_float32(kernel_dir, b, h, t, s, d):
    kernels = value_kernel_or_its_refusal()
    if kernels is None:
        return
    torch.manual_seed(t * s)
    weights = (torch.randn(b, h, t, s) * 3).softmax(-1).to(torch.bfloat16)
    values = torch.randn(b, s, h, d) * 4
    got = kernels.attend_bf16(weights, values)
    want = native.attend_reference(weights, values)
    assert got.shape == (b, t, h * d) and got.dtype == torch.float32
    # float32 sums of products that bfloat16 holds exactly: within float32 rounding of the sum, ~1e-6 here;
    # torch's product, rounded to bfloat16, is ~1e-2 off
    assert (got.double() - want).abs().max().item() <= 1e-5
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        single = kernels.attend_bf16(weights, values)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(got, single)  # each row is one thread's, summed in the same order


def test_value_kernel_refuses_another_width(kernel_dir):
    kernels = value_kernel_or_its_refusal()
    if kernels is None:
        return
    weights = torch.rand(1, 2, 4, 4).softmax(-1).to(torch.bfloat16)
    with pytest.raises(NativeKernelError, match=r"value heads \(8, 12\) wide, not 7"):
        kernels.attend_bf16(weights, torch.randn(1, 4, 2, 7))


def test_attend_uses_the_value_kernel_only_where_it_applies(kernel_dir, monkeypatch):
    from luxtts.model.linear import attend

    if value_kernel_or_its_refusal() is None:  # built (and self-tested) before the calls are counted
        return
    d = 12
    torch.manual_seed(0)
    weights = (torch.randn(1, 4, 50, 50) * 2).softmax(-1)
    values = torch.randn(1, 50, 4, d)
    calls = []
    real = native.NativeKernels.attend_bf16
    monkeypatch.setattr(native.NativeKernels, "attend_bf16", lambda self, w, v: calls.append(1) or real(self, w, v))
    with torch.inference_mode():
        fused = attend(weights.to(torch.bfloat16), values)
        assert calls == [1]
        want = native.attend_reference(weights.to(torch.bfloat16), values)
        assert (fused.double() - want).abs().max().item() <= 1e-5
        attend(weights, values)  # float32 weights
        attend(weights.to(torch.bfloat16), torch.randn(1, 50, 1, 384))  # the non-linear attention's wide head
        attend(weights.to(torch.bfloat16).transpose(2, 3), values)  # not contiguous
        monkeypatch.setenv(native.NATIVE_ENV, "off")
        plain = attend(weights.to(torch.bfloat16), values)
    assert calls == [1]
    # torch's product rounds each sum to bfloat16: close to the kernel's, not equal
    assert not torch.equal(fused, plain) and (fused - plain).abs().max().item() <= 0.05
    grad_values = values.clone().requires_grad_()
    out = attend(weights.to(torch.bfloat16), grad_values)
    assert calls == [1] and out.requires_grad


@pytest.mark.parametrize("t,rows,first,masked,dp", [(1, 1, 0, 0, 4), (37, 37, 0, 3, 4), (1364, 384, 768, 0, 4),
                                                    (667, 16, 651, 100, 4), (50, 7, 9, 0, 3), (20000, 2, 19998, 1, 4)])
def test_rel_softmax_adds_positions_masks_and_normalises_each_row(kernel_dir, t, rows, first, masked, dp):
    kernels = native.kernels()
    torch.manual_seed(t + rows)
    scores = (torch.randn(rows, t) * 4).to(torch.bfloat16)
    proj = torch.randn(rows, 3 * dp).to(torch.bfloat16)
    p = proj[:, dp : 2 * dp]  # rows strided, as the model's slice of its projection
    pos = torch.randn(dp, 2 * t - 1).to(torch.bfloat16)
    mask = torch.zeros(1, t, dtype=torch.bool)
    mask[0, t - masked :] = masked > 0
    use_mask = mask if masked else None
    want = native.rel_softmax_reference(scores, p, pos, use_mask, first)
    got = scores.clone()
    kernels.rel_softmax(got, p, pos, use_mask, first)
    assert got.dtype == torch.bfloat16
    # each weight is its float32 value rounded once to bfloat16: within 2^-9 of it, relative
    assert ((got.double() - want).abs() <= want * 2.0**-8 + 1e-30).all()
    if masked:
        assert (got[:, t - masked :] == 0).all()
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        single = scores.clone()
        kernels.rel_softmax(single, p, pos, use_mask, first)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(got, single)


def test_attention_weights_use_the_fused_softmax_in_bfloat16_and_stay_close_to_torchs(kernel_dir, monkeypatch):
    from luxtts.model.attention import AttentionWeights, compact_rel_positions

    torch.manual_seed(0)
    module = AttentionWeights(64, 16, num_heads=4, query_head_dim=8, pos_head_dim=4)
    module.score_dtype = torch.bfloat16
    x = torch.randn(2, 300, 64)
    pos = module.project_positions(compact_rel_positions(300, 16))
    key_mask = torch.zeros(2, 1, 1, 300, dtype=torch.bool)
    key_mask[1, ..., 250:] = True
    kernels = native.kernels()
    assert kernels is not None
    assert kernels.bf16_scores == native_bfloat16()
    calls = []
    # with AVX-512 BF16 the kernel computes the scores too (rel_attention), elsewhere it takes torch's (rel_softmax)
    used = "rel_attention" if kernels.bf16_scores else "rel_softmax"
    real = getattr(native.NativeKernels, used)
    monkeypatch.setattr(native.NativeKernels, used, lambda self, *a: calls.append(1) or real(self, *a))
    with torch.inference_mode():
        fused = module(x, pos, key_mask)
        assert calls and (fused[1, :, :, 250:] == 0).all()
        monkeypatch.setenv(native.NATIVE_ENV, "off")
        plain = module(x, pos, key_mask)
        module.score_dtype = None
        exact = module(x, module.project_positions(compact_rel_positions(300, 16)), key_mask)
    n = len(calls)
    assert n == 2 * 4  # every head's block of each item (300 frames: one block)
    # the fused weights are the float32 ones rounded once; torch's bfloat16 path rounds the scores too (and with
    # rel_attention the scores are the float32 sums of the bfloat16 q and k, not rounded to bfloat16 either)
    assert (fused.float() - exact).abs().max().item() <= 2.0**-8
    assert (fused.float() - exact).abs().max().item() <= (plain.float() - exact).abs().max().item()


@pytest.mark.parametrize("t,rows,first,masked,dq", [(300, 300, 0, 0, 32), (129, 64, 40, 9, 8), (65, 65, 0, 64, 2),
                                                    (1, 1, 0, 0, 4), (77, 1, 76, 0, 12)])
def test_the_score_kernel_matches_float64_where_the_cpu_has_it(kernel_dir, t, rows, first, masked, dq):
    kernels = native.kernels()
    if not kernels.bf16_scores:
        assert not native_bfloat16()
        with pytest.raises(NativeKernelError, match="no bfloat16 scores"):
            kernels.rel_attention(torch.empty(1, 1, dtype=torch.bfloat16), torch.zeros(1, 2, dtype=torch.bfloat16),
                                  torch.zeros(1, 1, 2, dtype=torch.bfloat16), torch.zeros(1, 1, dtype=torch.bfloat16),
                                  torch.zeros(1, 1, dtype=torch.bfloat16), None, 0)
        return
    generator = torch.Generator().manual_seed(t)
    q = (torch.randn(rows, dq, generator=generator) * 2).to(torch.bfloat16)
    k = (torch.randn(t, dq, generator=generator) * 2).to(torch.bfloat16).T  # strided, as the model's keys are
    p = torch.randn(rows, 4, generator=generator).to(torch.bfloat16)
    pos = torch.randn(4, 2 * t - 1, generator=generator).to(torch.bfloat16)
    mask = torch.zeros(t, dtype=torch.bool)
    mask[t - masked:] = masked > 0
    want = native.rel_softmax_reference(q.double() @ k.double(), p, pos, mask if masked else None, first)
    got = torch.full((rows, t), math.nan, dtype=torch.bfloat16)
    kernels.rel_attention(got, q, native.key_pairs(k), p, pos, mask if masked else None, first)
    assert (got.double() - want).abs().max().item() <= 2.0**-8  # bfloat16's rounding of the weights, nothing more
    if masked:
        assert (got[:, t - masked:] == 0).all()
    assert torch.allclose(got.double().sum(-1), torch.ones(rows, dtype=torch.float64), atol=2e-2)


def test_key_pairs_puts_each_pair_of_channels_side_by_side():
    k = torch.arange(6 * 5, dtype=torch.float32).reshape(6, 5)  # (dq, T)
    pairs = native.key_pairs(k)
    assert pairs.shape == (3, 5, 2) and pairs.is_contiguous()
    for e in range(3):
        for j in range(5):
            assert pairs[e, j].tolist() == [k[2 * e, j].item(), k[2 * e + 1, j].item()]


@pytest.mark.parametrize("offset", [0, 1, 2])  # 1: the keys start mid-word, so the word-wise transpose can't run
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("t", [1, 2, 37])
def test_key_pairs_of_a_projection_slice_equal_the_elementwise_layout(offset, dtype, t):
    # the model's keys: a (T, channels) projection's columns for one head, read as (dq, T)
    dq = 8
    proj = torch.randn(t, offset + 3 * dq + 2).to(dtype)
    k = proj[:, offset + dq : offset + 2 * dq].T
    pairs = native.key_pairs(k)
    assert pairs.shape == (dq // 2, t, 2) and pairs.is_contiguous() and pairs.dtype == dtype
    assert torch.equal(pairs, k.T.reshape(t, dq // 2, 2).transpose(0, 1))


@settings(max_examples=40, deadline=None)
@given(b=st.integers(1, 3), t=st.integers(1, 90), c=st.integers(1, 140), k=st.sampled_from([1, 3, 7, 15, 31]),
       padded=st.booleans(), seed=st.integers(0, 2**16))
def test_conv_module_kernel_matches_float64(b, t, c, k, padded, seed):
    kernels = native.kernels()
    generator = torch.Generator().manual_seed(seed)
    h = torch.randn(b, t, 2 * c, generator=generator) * 4.0
    weight = torch.randn(c, k, generator=generator)
    bias = torch.randn(c, generator=generator)
    pad = torch.rand(b, t, generator=generator) < 0.3 if padded else None
    got = kernels.conv_module_core(h, pad, weight, bias, 0.08)
    want = native.conv_module_core_reference(h, pad, weight, bias, 0.08)
    assert got.shape == (b, t, c) and got.dtype == torch.float32
    # float32 sums of k products, each product and partial sum rounded: at most ~k units in the last place of
    # the sum of the products' magnitudes (the tail's slope is below 1), plus the tail's own 1e-6 relative
    gated = F.glu(h.double(), dim=-1).abs()
    if pad is not None:
        gated = gated.masked_fill(pad[..., None], 0.0)
    magnitude = F.conv1d(gated.transpose(1, 2), weight.double().abs()[:, None, :], bias.double().abs(),
                         padding=k // 2, groups=c).transpose(1, 2)
    bound = 1e-6 * want.abs().clamp_min(1.0) + (k + 2) * 2.0**-24 * magnitude
    assert ((got.double() - want).abs() <= bound).all()
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        single = kernels.conv_module_core(h, pad, weight, bias, 0.08)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(got, single)  # each channel block is one thread's, in the same order either way


@pytest.mark.parametrize("b,t,c,k,padded", [(1, 1364, 512, 31, False), (2, 57, 48, 9, True), (1, 3, 64, 15, False)])
def test_the_convolution_module_uses_it_and_gives_what_torch_gives(kernel_dir, monkeypatch, b, t, c, k, padded):
    from luxtts.model.layers import ConvModule

    torch.manual_seed(t)
    module = ConvModule(c, k).eval()
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0.0, 0.3)
    x = torch.randn(b, t, c)
    pad = (torch.rand(b, t, 1) < 0.25) if padded else None
    residual = torch.randn(b, t, c)
    with torch.inference_mode():
        fused = module(x, pad, residual)
        monkeypatch.setenv(native.NATIVE_ENV, "off")
        assert module._native_core(module.in_proj(x), pad) is None
        plain = module(x, pad, residual)
    assert not torch.equal(fused, plain)  # two formulations really ran
    assert (fused - plain).abs().max().item() <= 1e-6 * max(1.0, plain.abs().max().item()) * k
    x.requires_grad_(True)  # training: torch's formulation, with gradients
    module(x, pad).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
