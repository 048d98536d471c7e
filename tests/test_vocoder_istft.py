"""The inverse STFT (torch.fft and exportable matmul forms), the sinc resampler and the crossover merge."""

from __future__ import annotations

import io
import math

import pytest
import torch
import torch.nn.functional as F

from luxtts.config import HeadConfig
from luxtts.errors import InvalidOptionError
from luxtts.vocoder import ISTFT, crossover_merge, sinc_resample
from luxtts.vocoder.crossover import crossover_mask, sinc_kernel
from luxtts.vocoder.heads import MAX_MAGNITUDE, ISTFTHead

SIZES = [(1024, 256), (512, 128), (64, 16), (48, 12)]


def random_spectrum(n_fft: int, frames: int, batch: int = 2, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    shape = (batch, n_fft // 2 + 1, frames)
    return torch.randn(shape, generator=g), torch.randn(shape, generator=g)


def stft(x: torch.Tensor, n_fft: int, hop: int, padding: str) -> torch.Tensor:
    window = torch.hann_window(n_fft, dtype=x.dtype)
    if padding == "same":
        pad = (n_fft - hop) // 2
        x = F.pad(x[:, None], (pad, pad), mode="reflect")[:, 0]
    return torch.stft(x, n_fft, hop, n_fft, window, center=padding == "center", return_complex=True)


@pytest.mark.parametrize("n_fft,hop", SIZES)
@pytest.mark.parametrize("mode", ["fft", "matmul"])
def test_center_istft_equals_torch_istft(n_fft, hop, mode):
    re, im = random_spectrum(n_fft, 37)
    want = torch.istft(torch.complex(re, im), n_fft, hop, n_fft, torch.hann_window(n_fft), center=True)
    got = ISTFT(n_fft, hop, padding="center", mode=mode)(re, im)
    assert got.shape == want.shape
    assert (got - want).abs().max().item() < 1e-5 * max(1.0, want.abs().max().item())


@pytest.mark.parametrize("n_fft,hop", SIZES)
def test_same_istft_matmul_equals_fft(n_fft, hop):
    re, im = random_spectrum(n_fft, 41, seed=1)
    fft = ISTFT(n_fft, hop, padding="same", mode="fft")
    matmul = ISTFT(n_fft, hop, padding="same", mode="matmul")
    fft.window.copy_(fft.window + 0.05 * torch.rand(n_fft))  # a checkpoint's window need not be exact Hann
    matmul.load_state_dict(fft.state_dict())
    want, got = fft(re, im), matmul(re, im)
    assert got.shape == want.shape == (2, 41 * hop)
    assert (got - want).abs().max().item() < 1e-5 * want.abs().max().item()


@pytest.mark.parametrize("padding", ["same", "center"])
@pytest.mark.parametrize("mode", ["fft", "matmul"])
@pytest.mark.parametrize("n_fft,hop", SIZES)
def test_stft_then_istft_reconstructs(padding, mode, n_fft, hop):
    frames = 30
    n = frames * hop
    x = torch.randn(2, n, generator=torch.Generator().manual_seed(2))
    spec = stft(x, n_fft, hop, padding)
    assert spec.shape[-1] == (frames if padding == "same" else frames + 1)
    y = ISTFT(n_fft, hop, padding=padding, mode=mode)(spec.real, spec.imag)
    want = x[:, : y.shape[-1]]
    assert y.shape[-1] == n
    assert (y - want).abs().max().item() < 1e-4


@pytest.mark.parametrize("padding", ["same", "center"])
@pytest.mark.parametrize("mode", ["fft", "matmul"])
def test_lengths_make_each_item_its_own_inverse(padding, mode):
    n_fft, hop = 64, 16
    re, im = random_spectrum(n_fft, 25, seed=3)
    istft = ISTFT(n_fft, hop, padding=padding, mode=mode)
    lengths = torch.tensor([17, 25])
    out = istft(re, im, lengths)
    for i, t in enumerate(lengths.tolist()):
        alone = istft(re[i : i + 1, :, :t], im[i : i + 1, :, :t])[0]
        n = int(istft.num_samples(t))
        assert alone.shape[-1] == n
        assert (out[i, :n] - alone).abs().max().item() < 1e-5
        assert torch.all(out[i, n:] == 0)


# torch's TorchScript-based exporter: the one that works without onnxscript
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_matmul_istft_exports_to_onnx():
    import onnxruntime as ort

    istft = ISTFT(64, 16, padding="same", mode="matmul").eval()
    buf = io.BytesIO()
    re, im = random_spectrum(64, 20, batch=1)
    torch.onnx.export(istft, (re, im), buf, input_names=["re", "im"], output_names=["wav"], dynamo=False,
                      dynamic_axes={"re": {0: "b", 2: "t"}, "im": {0: "b", 2: "t"}}, opset_version=17)
    session = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"])
    re, im = random_spectrum(64, 33, batch=3, seed=4)
    got = torch.from_numpy(session.run(None, {"re": re.numpy(), "im": im.numpy()})[0])
    want = istft(re, im)
    assert got.shape == want.shape
    assert (got - want).abs().max().item() < 1e-5


def test_bad_istft_mode_is_refused():
    with pytest.raises(InvalidOptionError, match="istft mode"):
        ISTFT(64, 16, mode="dft")


# ---------------------------------------------------------------------------------------------- resampling


def test_sinc_kernel_shape_and_dc_gain():
    kernel, width = sinc_kernel(24000, 48000)
    assert width == math.ceil(6 / 0.99)
    assert kernel.shape == (2, 1, 2 * width + 1)
    # each polyphase branch passes DC with the rolloff's gain
    assert torch.allclose(kernel.sum(dim=-1).double(), torch.full((2, 1), 1.0, dtype=torch.float64), atol=2e-2)


@pytest.mark.parametrize("orig,new", [(24000, 48000), (48000, 24000), (16000, 24000)])
def test_sinc_resample_length_and_sine(orig, new):
    n = 4801
    t = torch.arange(n, dtype=torch.float64) / orig
    x = torch.sin(2 * math.pi * 440 * t).float()[None]
    y = sinc_resample(x, orig, new)
    assert y.shape == (1, math.ceil(n * new / orig))
    t_new = torch.arange(y.shape[-1], dtype=torch.float64) / new
    want = torch.sin(2 * math.pi * 440 * t_new).float()
    interior = slice(y.shape[-1] // 10, -y.shape[-1] // 10)
    assert (y[0, interior] - want[interior]).abs().max().item() < 2e-3


def test_sinc_resample_keeps_leading_dims():
    x = torch.randn(2, 3, 500)
    y = sinc_resample(x, 24000, 48000)
    assert y.shape == (2, 3, 1000)
    assert torch.allclose(y[1, 2], sinc_resample(x[1, 2], 24000, 48000), atol=1e-6)


# ---------------------------------------------------------------------------------------------- crossover


@pytest.mark.parametrize("crossover_hz", [4000, 12000, 20000])
def test_crossover_takes_low_bins_from_low_path_and_high_bins_from_high_path(crossover_hz):
    n = 9600
    high, low = torch.randn(2, n, generator=torch.Generator().manual_seed(5))
    merged = torch.fft.rfft(crossover_merge(high, low, 48000, crossover_hz).double())
    n_bins = n // 2 + 1
    cutoff = int(crossover_hz / 24000 * n_bins)
    below, above = slice(0, cutoff - 4), slice(cutoff + 4, n_bins)
    assert torch.allclose(merged[below], torch.fft.rfft(low.double())[below], atol=1e-3)
    assert torch.allclose(merged[above], torch.fft.rfft(high.double())[above], atol=1e-3)


def test_crossover_mask_is_a_smooth_monotone_step():
    mask = crossover_mask(1000, 48000, 12000)
    assert mask.shape == (1000,)
    assert torch.all(mask[:496] == 0) and torch.all(mask[504:] == 1)
    assert torch.all(mask[1:] >= mask[:-1])


def plain_head(head, x: torch.Tensor) -> torch.Tensor:
    """The head's math written out with a new tensor for every step: what the lean path must equal bit for bit."""
    log_mag, phase = head.out(x).float().transpose(1, 2).chunk(2, dim=1)
    mag = torch.clip(torch.exp(log_mag), max=MAX_MAGNITUDE)
    real, imag = mag * torch.cos(phase), mag * torch.sin(phase)
    istft, window = head.istft, head.istft.window
    if istft.padding == "center":
        return torch.istft(torch.complex(real, imag), istft.n_fft, istft.hop_length, istft.n_fft, window, center=True)
    frames = real.shape[-1]
    ifft = torch.fft.irfft(torch.complex(real, imag), istft.n_fft, dim=1, norm="backward") * window[None, :, None]
    size, kernel, stride = (1, (frames - 1) * istft.hop_length + istft.n_fft), (1, istft.n_fft), (1, istft.hop_length)
    signal = F.fold(ifft, output_size=size, kernel_size=kernel, stride=stride)[:, 0, 0]
    envelope = F.fold(window.square()[None, :, None].expand(1, -1, frames), output_size=size, kernel_size=kernel,
                      stride=stride)[:, 0, 0]
    stop = signal.shape[-1] - istft.trim
    return signal[..., istft.trim:stop] / envelope[..., istft.trim:stop]


@pytest.mark.parametrize("padding", ["same", "center"])
@pytest.mark.parametrize("n_fft,hop", [(2048, 512), (64, 16)])
def test_head_frees_its_parts_without_changing_a_bit(padding, n_fft, hop):
    torch.manual_seed(3)
    head = ISTFTHead(HeadConfig(dim=24, n_fft=n_fft, hop_length=hop, padding=padding)).eval()
    x = torch.randn(2, 53, 24) * 3  # large enough that some magnitudes hit the clip
    with torch.inference_mode():
        got, want = head(x), plain_head(head, x)
    assert torch.exp(head.out(x)[..., : n_fft // 2 + 1]).max() > MAX_MAGNITUDE
    assert got.shape == want.shape == (2, head.num_samples(53))
    assert torch.equal(got, want)


@pytest.mark.parametrize("padding", ["same", "center"])
def test_inverse_of_a_complex_spectrum_equals_forward_with_every_frame_valid(padding):
    re, im = random_spectrum(256, 29, seed=5)
    istft = ISTFT(256, 64, padding=padding)
    full = torch.full((2,), 29)
    got = istft.inverse(torch.complex(re, im))
    assert torch.equal(got, istft(re, im))
    assert (got - istft(re, im, full)).abs().max().item() <= 1e-6 * got.abs().max().item()


@pytest.mark.parametrize("padding", ["same", "center"])
def test_head_stays_differentiable(padding):
    torch.manual_seed(4)
    head = ISTFTHead(HeadConfig(dim=8, n_fft=32, hop_length=8, padding=padding))
    x = torch.randn(2, 11, 8, requires_grad=True)
    head(x).square().sum().backward()
    got = x.grad.clone()
    x.grad = None
    plain_head(head, x).square().sum().backward()
    assert torch.allclose(got, x.grad, rtol=1e-5, atol=1e-6) and got.abs().sum() > 0


@pytest.mark.parametrize("n_fft,hop", SIZES)
@pytest.mark.parametrize("frames,block", [(29, 1), (29, 7), (29, 29), (29, 100), (300, 256)])
def test_inverse_in_blocks_equals_one_inverse(n_fft, hop, frames, block):
    """Frames made and inverted a block at a time: the same samples as one inverse, up to the order in which
    the overlap-add sums where blocks meet."""
    re, im = random_spectrum(n_fft, frames, seed=frames + block)
    istft = ISTFT(n_fft, hop, padding="same")
    spectrum = torch.complex(re, im)
    calls = []

    def part(start, stop):
        calls.append((start, stop))
        return spectrum[..., start:stop]

    got = istft.inverse_in_blocks(part, frames, 2, block)
    want = istft.inverse(spectrum)
    assert got.shape == want.shape == (2, istft.num_samples(frames))
    assert (got - want).abs().max().item() <= 1e-6 * want.abs().max().item()
    assert calls == [(s, min(frames, s + block)) for s in range(0, frames, block)]


def test_inverse_in_blocks_refuses_what_it_cannot_do():
    istft = ISTFT(64, 16, padding="center")
    with pytest.raises(InvalidOptionError, match="'same' padding"):
        istft.inverse_in_blocks(lambda a, b: None, 10, 1, 4)
    with pytest.raises(InvalidOptionError, match="block must be a positive number of frames, got 0"):
        ISTFT(64, 16).inverse_in_blocks(lambda a, b: None, 10, 1, 0)


def test_48k_head_longer_than_a_block_matches_the_plain_head():
    """The head's blockwise path (more frames than BLOCK_FRAMES) against the whole-signal inverse."""
    from luxtts.vocoder.heads import BLOCK_FRAMES

    torch.manual_seed(6)
    head = ISTFTHead(HeadConfig(dim=16, n_fft=512, hop_length=128)).eval()
    x = torch.randn(1, 2 * BLOCK_FRAMES + 37, 16)
    with torch.inference_mode():
        got, want = head(x), plain_head(head, x)
    assert got.shape == want.shape
    assert (got - want).abs().max().item() <= 1e-6 * want.abs().max().item()
