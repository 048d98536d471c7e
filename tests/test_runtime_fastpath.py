"""The CPU fast path inside the model (oneDNN linear, blocked attention, channels-last depthwise convolution,
streamed loading) computes what the plain formulation computes. Golden tests cover the whole model; these
pin each piece against its straightforward version on random shapes, masks included."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from luxtts.model import attention as A
from luxtts.model import linear as linear_module
from luxtts.model.layers import ConvModule
from luxtts.model.linear import Linear, attend, linear

torch.manual_seed(0)


def reference_weights(m: A.AttentionWeights, x, pos, key_mask=None):
    """Unblocked scores: all queries at once, positions by explicit gather."""
    b, t, _ = x.shape
    h, dq, dp = m.num_heads, m.query_head_dim, m.pos_head_dim
    proj = F.linear(x, m.in_proj.weight, m.in_proj.bias)
    q = proj[..., : h * dq].reshape(b, t, h, dq).transpose(1, 2)
    k = proj[..., h * dq : 2 * h * dq].reshape(b, t, h, dq).permute(0, 2, 3, 1)
    p = proj[..., 2 * h * dq :].reshape(b, t, h, dp).transpose(1, 2)
    rel = torch.matmul(p, pos)  # (B, H, T, 2T - 1)
    i = torch.arange(t)[:, None]
    j = torch.arange(t)[None, :]
    pos_scores = torch.gather(rel, -1, (t - 1 - i + j).expand(b, h, t, t))
    scores = torch.matmul(q, k) + pos_scores
    if key_mask is not None:
        scores = scores.masked_fill(key_mask, -1000.0)
    return scores.softmax(-1)


@pytest.fixture(params=["oneDNN products", "torch products"])
def products(request, monkeypatch):
    """The float32 attention products either way, whichever this CPU picks (luxtts.model.linear.onednn_products_win:
    oneDNN on AMD, torch's matmul elsewhere), with the oneDNN calls counted."""
    use_onednn = request.param == "oneDNN products"
    for module in (A, linear_module):
        monkeypatch.setattr(module, "onednn_products_win", lambda: use_onednn)
    calls = []
    real = A.onednn_product

    def counted(*args):
        calls.append(args[0].shape)
        return real(*args)

    monkeypatch.setattr(A, "onednn_product", counted)
    return use_onednn, calls


@pytest.mark.parametrize("b,t,heads", [(1, 1, 2), (1, 37, 4), (2, 300, 4), (3, 129, 2)])
@pytest.mark.parametrize("masked", [False, True])
def test_blocked_attention_weights_equal_reference(b, t, heads, masked, monkeypatch, products):
    m = A.AttentionWeights(24, 16, heads, 8, 4).eval()
    x = torch.randn(b, t, 24)
    pos = m.project_positions(A.compact_rel_positions(t, 16))
    key_mask = None
    if masked:
        lens = torch.randint(1, t + 1, (b,))
        key_mask = (torch.arange(t)[None, :] >= lens[:, None])[:, None, None, :]
    # Force several blocks, including a ragged last one.
    monkeypatch.setattr(A, "_query_block_rows", lambda bh, tt: max(1, tt // 3 + 1))
    with torch.inference_mode():
        got = m(x, pos, key_mask)
        want = reference_weights(m, x, pos, key_mask)
    assert got.shape == (b, heads, t, t)
    assert (got - want).abs().max().item() < 1e-6
    use_onednn, calls = products
    blocks = sum(len(range(0, t, max(1, t // 3 + 1))) for _ in range(b * heads))
    assert len(calls) == (blocks if use_onednn else 0)


@pytest.mark.parametrize("b,h,t,s,d", [(1, 4, 50, 50, 12), (2, 1, 30, 30, 40), (3, 2, 7, 7, 5), (1, 1, 40, 333, 384),
                                       (2, 4, 19, 700, 12)])
def test_attend_equals_matmul(b, h, t, s, d, products):
    w = torch.rand(b, h, t, s).softmax(-1)
    v = torch.randn(b, s, h, d)
    with torch.inference_mode():
        got = attend(w, v)
        # the non-linear attention's call: head 0 of all the heads' weights, a strided view
        first = attend(torch.rand(b, 3, t, s).softmax(-1)[:, :1], v[:, :, :1])
    want = torch.matmul(w.double(), v.double().transpose(1, 2)).transpose(1, 2).reshape(b, t, h * d)
    assert got.shape == (b, t, h * d) and got.dtype == torch.float32
    assert (got.double() - want).abs().max().item() < 1e-5
    assert first.shape == (b, t, d) and torch.isfinite(first).all()


@pytest.mark.parametrize("t,s", [(0, 0), (3, 0), (0, 5)])
def test_empty_attention_products_keep_onednn_on(t, s, products):
    """oneDNN refuses a zero-deep product, and a refusal turns it off for float32 for good: empty ones stay torch's."""
    from luxtts.runtime import onednn

    with torch.inference_mode():
        got = attend(torch.rand(1, 4, t, s), torch.randn(1, s, 4, 12))
    assert got.shape == (1, t, 48) and not got.abs().sum().item()
    assert torch.float32 not in onednn._failed


def test_onednn_products_follow_the_vendor(monkeypatch):
    """oneDNN's float32 attention products on AMD only (measured there; MKL is the faster one on Intel)."""
    from luxtts.runtime.cpu import CpuInfo

    for vendor, expected in (("AuthenticAMD", True), ("GenuineIntel", False), ("unknown", False)):
        monkeypatch.setattr(linear_module, "cpu_info", lambda vendor=vendor: CpuInfo(vendor=vendor))
        linear_module.onednn_products_win.cache_clear()
        assert linear_module.onednn_products_win() is expected
    linear_module.onednn_products_win.cache_clear()


def test_linear_matches_f_linear_and_keeps_autograd():
    layer = Linear(64, 96)
    x = torch.randn(2, 33, 64)
    with torch.inference_mode():
        fast = layer(x)
    assert (fast - F.linear(x, layer.weight, layer.bias)).abs().max().item() < 1e-5
    x.requires_grad_(True)
    layer(x).sum().backward()  # outside inference the plain path runs, so gradients exist
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert (linear(x.detach(), layer.weight.detach(), None) - F.linear(x.detach(), layer.weight.detach())).abs().max() < 1e-5


@pytest.mark.parametrize("b,t,c,k", [(1, 100, 32, 31), (2, 57, 16, 7), (1, 1, 8, 15)])
def test_channels_last_depthwise_equals_conv1d(b, t, c, k):
    conv = ConvModule(c, k).eval()
    x = torch.randn(b, t, c)
    with torch.inference_mode():
        got = conv._depthwise(x, conv.depthwise_conv.bias)
        want = conv.depthwise_conv(x.transpose(1, 2)).transpose(1, 2)
    assert (got - want).abs().max().item() < 1e-5


def test_streamed_loading_equals_state_dict(tmp_path):
    from conftest import GOLDEN_DIR
    from luxtts.model import convert_checkpoint, load_acoustic_model
    from luxtts.weights import read_state_dict

    folder = GOLDEN_DIR / "model_distill"
    st = convert_checkpoint(folder / "model.pt", tmp_path / "m.safetensors")
    for ckpt in (folder / "model.pt", st):
        model = load_acoustic_model(ckpt, folder / "config.json", folder / "tokens.txt")
        sd = read_state_dict(folder / "model.pt")
        got = model.state_dict()
        assert set(got) == set(sd)
        assert all(torch.equal(got[k], sd[k]) for k in sd)


def _reference_layers():
    """The modules' formulas written out plainly, without folded constants or fused residuals."""
    from luxtts.model.layers import swoosh_l, swoosh_r

    def ff(m, x):
        return F.linear(swoosh_l(F.linear(x, m.in_proj.weight, m.in_proj.bias)), m.out_proj.weight, m.out_proj.bias)

    def conv(m, x):
        a, gate = F.linear(x, m.in_proj.weight, m.in_proj.bias).chunk(2, dim=-1)
        y = m.depthwise_conv((a * torch.sigmoid(gate)).transpose(1, 2)).transpose(1, 2)
        return F.linear(swoosh_r(y), m.out_proj.weight, m.out_proj.bias)

    return ff, conv


@pytest.mark.parametrize("b,t", [(1, 37), (3, 5)])
def test_folded_swoosh_modules_equal_their_plain_formulas(b, t):
    from luxtts.model.layers import FeedForward

    torch.manual_seed(0)
    ff_ref, conv_ref = _reference_layers()
    ff, conv = FeedForward(16, 48).eval(), ConvModule(16, 7).eval()
    for m in (ff, conv):
        for p in m.parameters():
            p.data.normal_(0, 0.5)  # large enough that both branches of the softplus are exercised
    x, r = torch.randn(b, t, 16) * 3, torch.randn(b, t, 16)
    def close(got, want, tol=2e-6):
        return (got - want).abs().max().item() <= tol * max(1.0, want.abs().max().item())

    with torch.inference_mode():
        assert close(ff(x), ff_ref(ff, x))
        assert close(ff(x, residual=r), r + ff_ref(ff, x))
        assert close(conv(x), conv_ref(conv, x))
        assert close(conv(x, residual=r), r + conv_ref(conv, x))
        # The folded bias follows the weights when they change.
        ff.out_proj.weight.add_(1.0)
        ff.out_proj.load_state_dict(ff.out_proj.state_dict())
        assert close(ff(x), ff_ref(ff, x))


def test_fast_tanh_matches_torch():
    from luxtts.model.attention import _tanh

    x = torch.cat([torch.linspace(-20, 20, 10001), torch.tensor([0.0, 1e-8, -1e-8, 88.0, -88.0])])
    assert (_tanh(x) - torch.tanh(x)).abs().max().item() < 3e-7
