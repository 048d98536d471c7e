"""Float linears packed once into oneDNN's blocked layout (luxtts.runtime.prepack) compute what the plain layer
computes, fall back where the packed weight cannot serve, and are what a CPU LuxTTS loads; the pipeline goldens
(test_pipeline_golden) run through them."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from luxtts import InvalidOptionError, LuxTTS
from luxtts.model.linear import Linear
from luxtts.runtime import Int8Linear, quantize_int8, snr_db
from luxtts.runtime.prepack import PREPACK_ENV, PackedLinear, can_prepack, prepack_transform


def test_this_torch_packs_float32_linears():
    # the tests below need oneDNN's float32 inner product, which every x86 / arm64 CPU wheel of torch has
    assert torch.backends.mkldnn.is_available() and can_prepack(torch.float32)
    assert not can_prepack(torch.float16)  # dtypes it does not take are left plain


# float32 sums in another order than MKL's: within a few units in the last place of the outputs
TOL = 2e-5


def plain(layer: nn.Linear, x, residual=None):
    bias = layer.effective_bias() if isinstance(layer, Linear) else layer.bias
    y = F.linear(x, layer.weight, bias)
    return y if residual is None else y + residual


@settings(max_examples=30, deadline=None)
@given(rows=st.integers(1, 300), features=st.sampled_from([(16, 16), (64, 96), (200, 48), (100, 512)]),
       offsets=st.booleans(), with_residual=st.booleans(), batched=st.booleans())
def test_packed_equals_plain_layer(rows, features, offsets, with_residual, batched):
    torch.manual_seed(rows)
    layer = Linear(*features)
    if offsets:
        layer.output_offset, layer.input_offset = 0.25, -0.5
    packed = PackedLinear(layer)
    shape = (2, rows, features[0]) if batched else (rows, features[0])
    x = torch.randn(shape)
    residual = torch.randn(*shape[:-1], features[1]) if with_residual else None
    with torch.inference_mode():
        got = packed(x, residual)
        want = plain(layer, x, residual)
    assert got.shape == want.shape
    assert (got - want).abs().max().item() <= TOL * max(1.0, want.abs().max().item())


def test_weight_bias_and_state_dict_are_the_checkpoints():
    layer = Linear(64, 32)
    layer.output_offset = 1.5  # folded into the bias the layer computes with, not into the one it reports
    packed = PackedLinear(layer)
    assert packed.packed and isinstance(packed, nn.Linear)
    assert torch.equal(packed.weight, layer.weight.detach())
    assert torch.equal(packed.bias, layer.bias.detach())
    state = packed.state_dict()
    assert sorted(state) == ["bias", "weight"]
    assert torch.equal(state["weight"], layer.weight.detach()) and torch.equal(state["bias"], layer.bias.detach())


def test_fallbacks_autograd_empty_and_one_dimensional_inputs():
    layer = nn.Linear(48, 40)
    packed = PackedLinear(layer)
    x = torch.randn(5, 48, requires_grad=True)
    packed(x).sum().backward()  # autograd: the plain product, gradients reach the input
    want = torch.autograd.grad(F.linear(x, layer.weight, layer.bias).sum(), x)[0]
    assert torch.allclose(x.grad, want, atol=1e-6)
    with torch.inference_mode():
        assert packed(torch.randn(0, 48)).shape == (0, 40)
        assert packed(torch.randn(3, 0, 48)).shape == (3, 0, 40)
        one = torch.randn(48)
        assert torch.allclose(packed(one), plain(layer, one).detach(), atol=TOL)


def test_to_unpacks_casts_and_packs_again():
    layer = nn.Linear(32, 24)
    packed = PackedLinear(layer)
    x = torch.randn(7, 32, dtype=torch.float64)
    wide = packed.to(torch.float64)
    assert not wide.packed and wide.weight.dtype == torch.float64
    with torch.inference_mode():
        assert torch.allclose(wide(x), plain(layer, x.float()).double(), atol=1e-5)
    back = wide.float()
    assert back.packed
    with torch.inference_mode():
        assert torch.allclose(back(x.float()), plain(layer, x.float()), atol=TOL)


def test_transform_keeps_what_it_must():
    transform = prepack_transform(torch.float32, keep=lambda name: name == "direct")
    assert transform is not None
    big = nn.Linear(64, 64)
    assert isinstance(transform("layer", big), PackedLinear)
    assert transform("direct", big) is big  # its weight is read by the model itself
    narrow = nn.Linear(64, 8)
    assert transform("narrow", narrow) is narrow
    half = nn.Linear(64, 64).to(torch.float16)
    assert transform("half", half) is half
    conv = nn.Conv1d(4, 4, 3)
    assert transform("conv", conv) is conv


def test_environment_turns_it_off_and_names_a_bad_value(monkeypatch):
    monkeypatch.setenv(PREPACK_ENV, "off")
    assert prepack_transform(torch.float32) is None
    monkeypatch.setenv(PREPACK_ENV, "sometimes")
    with pytest.raises(InvalidOptionError, match=PREPACK_ENV) as err:
        prepack_transform(torch.float32)
    assert "'auto'" in str(err.value) and "'off'" in str(err.value)


def test_int8_quantization_of_a_packed_model_takes_every_layer():
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64))
    x = torch.randn(9, 64)
    with torch.inference_mode():
        want = model(x)
    model[0], model[2] = PackedLinear(model[0]), PackedLinear(model[2])
    quantize_int8(model)
    assert isinstance(model[0], Int8Linear) and isinstance(model[2], Int8Linear)
    with torch.inference_mode():
        got = model(x)
    assert snr_db(got, want) >= 25.0  # int8 of the same weights and biases (a lost bias or layer: far below)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_a_cpu_pipeline_loads_packed_layers_and_speaks_as_plain_ones(folder, monkeypatch, dtype):
    from golden_model import pipeline_cases, prompt_wav

    packs = can_prepack(getattr(torch, dtype))  # bfloat16: where oneDNN has a kernel for this CPU
    case = pipeline_cases()[0]
    monkeypatch.setenv(PREPACK_ENV, "off")
    plain_tts = LuxTTS.from_pretrained(folder, device="cpu", dtype=dtype)
    monkeypatch.setenv(PREPACK_ENV, "auto")
    packed_tts = LuxTTS.from_pretrained(folder, device="cpu", dtype=dtype)
    assert not any(isinstance(m, PackedLinear) for m in plain_tts.model.modules())
    names = [n for n, m in packed_tts.model.named_modules() if isinstance(m, PackedLinear)]
    assert bool(names) == packs and "fm_decoder.in_proj" not in names and "text_encoder.in_proj" not in names
    assert any(isinstance(m, PackedLinear) for m in packed_tts.vocoder.modules())
    prompt = plain_tts.encode_prompt(str(prompt_wav()), text=case["prompt_text"])
    a = plain_tts.generate("Hello there, packed weights.", prompt, seed=3).audio
    b = packed_tts.generate("Hello there, packed weights.", prompt, seed=3).audio
    assert a.shape == b.shape and torch.isfinite(b).all()
    # the same products summed in another order (the vocoder's move from MKL's GEMM to oneDNN's among them):
    # 124 / 126 dB on the golden models (2026-12-07); a layer packed wrong is far below
    assert snr_db(b, a) >= 90.0
