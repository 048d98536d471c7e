"""The CPU formulations of the model's elementwise work (Swoosh tail, BiasNorm, Bypass, tanh gate) against their
plain definitions in float64, over the whole float range: huge, tiny, subnormal, infinite and NaN inputs included."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from luxtts.model import layers as L
from luxtts.model.attention import _times_tanh
from luxtts.runtime import native

SLOPE = 0.08
FLOAT32_MAX = float(torch.finfo(torch.float32).max)


@pytest.fixture(scope="module", autouse=True, params=["four passes", "softplus kernel", "fused C kernel"])
def tail_kernel(request):
    """Every test here runs with each float32 Swoosh formulation: the C kernel of luxtts.runtime.native (built
    here: the test needs GCC), and the two torch ones that run without it, whichever this CPU picks (see
    luxtts.model.layers._softplus_kernel_is_faster)."""
    mp = pytest.MonkeyPatch()
    mp.setattr(L, "_softplus_kernel_is_faster", lambda: request.param == "softplus kernel")
    mp.setenv(native.NATIVE_ENV, "on" if request.param == "fused C kernel" else "off")
    native.reset()
    yield request.param
    mp.undo()
    native.reset()


def tail_reference(z: torch.Tensor) -> torch.Tensor:
    """softplus(z) - 0.08 z in float64 (exact enough to judge float32)."""
    z = z.double()
    return F.softplus(z, threshold=40.0) - SLOPE * z


def tail_before(z: torch.Tensor) -> torch.Tensor:
    """The formulation the blockwise path replaced (and still falls back to)."""
    return F.softplus(z).add_(z, alpha=-SLOPE)


float32s = st.floats(width=32, allow_nan=True, allow_infinity=True, allow_subnormal=True)
moderate = st.floats(-120.0, 120.0, width=32)


def check_tail(z: torch.Tensor, rel_tol: float) -> None:
    with torch.inference_mode():
        got, before = L._swoosh_tail(z), tail_before(z)
    assert got.dtype == z.dtype and got.shape == z.shape
    # Non-finite results exactly where the old formulation had them, with the same values (+inf, -inf, NaN).
    assert torch.equal(got.isnan(), before.isnan())
    assert torch.equal(got.isinf(), before.isinf())
    assert torch.equal(got[got.isinf()], before[before.isinf()])
    ref = tail_reference(z)
    finite = ref.isfinite() & before.isfinite()
    err = ((got.double() - ref).abs() / ref.abs())[finite]
    assert err.numel() == 0 or err.max().item() <= rel_tol, (z[finite][err.argmax()].item(), err.max().item())


@settings(max_examples=200, deadline=None)
@given(values=st.lists(st.one_of(float32s, moderate), min_size=1, max_size=300), block=st.sampled_from([1, 5, 64, None]))
def test_swoosh_tail_matches_softplus_over_the_float_range(values, block, monkeypatch_module):
    # Small blocks put overflowing and ordinary values in different blocks: each block must stand alone.
    monkeypatch_module.setattr(L, "_TAIL_BLOCK", block or (1 << 17))
    check_tail(torch.tensor(values, dtype=torch.float32), 1e-6)


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def test_swoosh_tail_on_a_full_size_activation_with_extremes():
    torch.manual_seed(0)
    z = torch.randn(3, 1364, 1536) * 8
    extremes = torch.tensor([math.inf, -math.inf, math.nan, 88.7, 88.73, 89.0, 1e4, -1e4, 1e30, -1e30, FLOAT32_MAX,
                             -FLOAT32_MAX, 20.0, 20.01, -17.0, -88.7, -104.0, 1e-45, -1e-45, 0.0, -0.0])
    z.view(-1)[:: z.numel() // len(extremes)][: len(extremes)] = extremes  # spread over many blocks
    check_tail(z, 1e-6)
    check_tail(z[:, ::2], 1e-6)  # not contiguous: the plain path


@settings(max_examples=100, deadline=None)
@given(values=st.lists(st.one_of(st.floats(width=32, allow_nan=False, allow_infinity=True), moderate), min_size=1,
                       max_size=200))
def test_swoosh_tail_in_bfloat16_rounds_once(values):
    z = torch.tensor(values, dtype=torch.float32).bfloat16()
    with torch.inference_mode():
        got, before = L._swoosh_tail(z), tail_before(z)
    assert got.dtype == torch.bfloat16
    assert torch.equal(got.isnan(), before.isnan()) and torch.equal(got.isinf(), before.isinf())
    ref = tail_reference(z)
    finite = ref.isfinite() & got.isfinite() & (ref.abs() < 3.3e38)
    # Computed in float32 and rounded once to bfloat16 (2^-9 relative); the old path rounded twice.
    assert (((got.double() - ref).abs() / ref.abs())[finite] <= 2.0**-8).all()


def test_swoosh_tail_keeps_autograd():
    z = (torch.randn(40, 8) * 10).requires_grad_(True)
    y = L._swoosh_tail(z)
    y.sum().backward()
    assert torch.allclose(z.grad, torch.sigmoid(z.detach()) - SLOPE, atol=1e-6)


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 2e-6), (torch.bfloat16, 2.0**-7)])
def test_bias_norm_and_bypass_equal_their_formulas(dtype, tol):
    torch.manual_seed(0)
    norm, bypass = L.BiasNorm(64), L.Bypass(64)
    with torch.no_grad():
        norm.bias.normal_(0, 0.5)
        norm.log_scale.fill_(0.3)
        bypass.bypass_scale.uniform_(0.0, 1.0)
    norm, bypass = norm.to(dtype), bypass.to(dtype)
    x = (torch.randn(2, 50, 64) * torch.logspace(-3, 3, 50)[None, :, None]).to(dtype)  # rows of any scale
    y = torch.randn(2, 50, 64).to(dtype)
    with torch.inference_mode():
        got_norm, got_bypass = norm(x), bypass(x, y)
    xd, b = x.double(), norm.bias.double()
    want_norm = xd * ((xd - b).square().mean(-1, keepdim=True).rsqrt() * math.exp(0.3))
    s = bypass.bypass_scale.double()
    want_bypass = xd + (y.double() - xd) * s
    assert ((got_norm.double() - want_norm).abs() / want_norm.abs().amax(-1, keepdim=True)).max() <= tol
    assert ((got_bypass.double() - want_bypass).abs()).max() <= tol * want_bypass.abs().max()


def test_times_tanh_matches_torch_tanh():
    s = torch.cat([torch.linspace(-30, 30, 20001), torch.tensor([0.0, -0.0, 1e-8, -1e-8, 88.0, -88.0, 1e30, -1e30,
                                                                math.inf, -math.inf])])
    v = torch.randn_like(s) * 10
    with torch.inference_mode():
        got = _times_tanh(v, s)
    want = v.double() * torch.tanh(s.double())
    assert ((got.double() - want).abs() / v.abs().double().clamp(min=1e-30)).max().item() < 3e-7
    nan = _times_tanh(torch.tensor([1.0, math.nan]), torch.tensor([math.nan, 1.0]))
    assert nan.isnan().all()


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("b,h,t,s,d", [(1, 4, 30, 1200, 12), (2, 2, 17, 1100, 40), (1, 1, 25, 1300, 384)])
def test_attend_over_many_keys_equals_matmul(b, h, t, s, d, dtype):
    """Long key sequences take the per-head inner-product path for narrow float32 heads, the batched one else."""
    from luxtts.model.linear import attend

    torch.manual_seed(0)
    w = torch.rand(b, h, t, s).softmax(-1).to(dtype)
    v = torch.randn(b, s, h, d).to(dtype)
    with torch.inference_mode():
        got = attend(w, v)
    want = torch.matmul(w.double(), v.double().transpose(1, 2)).transpose(1, 2).reshape(b, t, h * d)
    tol = 1e-5 if dtype == torch.float32 else 2e-2
    assert got.dtype == dtype and (got.double() - want).abs().max().item() < tol


@pytest.mark.parametrize("masked", [False, True])
def test_all_head_blocks_equal_per_head_blocks(masked):
    """The two blocked layouts (per head on the CPU, across heads on other devices) give the same weights."""
    from luxtts.model import attention as A

    torch.manual_seed(0)
    m = A.AttentionWeights(24, 16, 3, 8, 4).eval()
    b, t = 2, 150
    x = torch.randn(b, t, 24)
    pos = m.project_positions(A.compact_rel_positions(t, 16))
    key_mask = (torch.arange(t)[None, :] >= torch.tensor([150, 97])[:, None])[:, None, None, :] if masked else None
    with torch.inference_mode():
        proj = m.in_proj(x)
        h, dq, dp = 3, 8, 4
        q = proj[..., : h * dq].reshape(b, t, h, dq).transpose(1, 2)
        k = proj[..., h * dq : 2 * h * dq].reshape(b, t, h, dq).permute(0, 2, 3, 1)
        p = proj[..., 2 * h * dq :].reshape(b, t, h, dp).transpose(1, 2)
        one, other = torch.empty(b, h, t, t), torch.empty(b, h, t, t)
        A._per_head_blocks(q, k, p, pos, key_mask, one)
        A._all_head_blocks(q, k, p, pos, key_mask, other)
        whole = A._whole_weights(q, k, p, pos, key_mask)
    assert (one - other).abs().max().item() < 1e-6 and (one - whole).abs().max().item() < 1e-6


@pytest.mark.parametrize("frames,batch", [(257, 1), (1000, 1), (300, 3)])
def test_feed_forward_row_blocks_equal_the_whole(frames, batch, monkeypatch):
    """Past one block of rows, the CPU path runs the feed-forward block by block: float32 gives what the whole
    tensor at once gives; int8 (a quantization scale per block instead of one) stays as close to float32 as the
    whole tensor's int8 result is. With gradients the whole tensor is used (and gradients flow)."""
    from luxtts.runtime import quantize_int8, snr_db

    torch.manual_seed(0)
    ff = L.FeedForward(48, 96).eval()
    x = torch.randn(batch, frames, 48)
    assert frames * batch > L._FF_BLOCK_ROWS
    with torch.inference_mode():
        blocked = ff(x, residual=x)
        monkeypatch.setattr(L, "_FF_BLOCK_ROWS", 10**9)
        whole = ff(x, residual=x)
    torch.testing.assert_close(blocked, whole, rtol=1e-6, atol=1e-6)
    assert blocked.shape == x.shape
    monkeypatch.undo()
    q = quantize_int8(copy.deepcopy(ff))
    with torch.inference_mode():
        q_blocked = q(x, residual=x)
    assert snr_db(q_blocked - x, whole - x) > 30
    xg = x.clone().requires_grad_(True)
    ff.train()
    y = ff(xg, residual=xg)
    y.sum().backward()
    assert xg.grad is not None and xg.grad.shape == x.shape

