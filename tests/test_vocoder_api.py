"""Vocoder API: batched decoding with lengths, loading (bin / safetensors), and the named errors."""

from __future__ import annotations

import pytest
import torch
import yaml

from conftest import GOLDEN_DIR, golden_cases, load_golden
from luxtts.config import VocoderConfig
from luxtts.errors import CheckpointError, ConfigError, InvalidOptionError
from luxtts.vocoder import load_vocoder
from luxtts.weights import read_state_dict, save_safetensors

WEIGHT_FILES = {"vocoder_48k": "vocos.bin", "vocoder_24k": "pytorch_model.bin"}
TOL_BATCH = 1e-5


def load(subdir: str):
    folder = GOLDEN_DIR / subdir
    return load_vocoder(folder / "config.yaml", folder / WEIGHT_FILES[subdir])


def golden_mels(subdir: str):
    """The golden mel inputs of ``subdir``, one item each (1, n_mels, T), from every case that has one (a case
    may hold a batch of them)."""
    mels = [load_golden(subdir, p.values[0]["file"]).get("mel") for p in golden_cases(subdir)]
    return [m[i : i + 1] for m in mels if m is not None for i in range(m.shape[0])]


def outputs(subdir: str):
    return ["48k", "24k"] if subdir == "vocoder_48k" else ["24k"]


@pytest.mark.parametrize("subdir,output", [(s, o) for s in WEIGHT_FILES for o in outputs(s)])
def test_batch_equals_each_item_decoded_alone(subdir, output):
    vocoder = load(subdir)
    mels = golden_mels(subdir)
    mels = [mels[0][..., : max(3, mels[0].shape[-1] // 2)]] + mels  # at least two different lengths
    lengths = torch.tensor([m.shape[-1] for m in mels])
    frames = int(lengths.max())
    # padding with a loud constant: any leak into valid frames would show
    batch = torch.cat([torch.nn.functional.pad(m, (0, frames - m.shape[-1]), value=5.0) for m in mels])
    with torch.inference_mode():
        wav = vocoder.decode(batch, lengths, output=output)
        sizes = vocoder.num_samples(lengths, output)
        for i, mel in enumerate(mels):
            alone = vocoder.decode(mel, output=output)[0]
            assert alone.shape[-1] == int(sizes[i])
            assert (wav[i, : alone.shape[-1]] - alone).abs().max().item() <= TOL_BATCH
            assert torch.all(wav[i, alone.shape[-1]:] == 0)
    assert wav.shape == (len(mels), int(sizes.max()))


def test_default_output_and_sample_rates():
    v48, v24 = load("vocoder_48k"), load("vocoder_24k")
    mel = golden_mels("vocoder_48k")[0]
    with torch.inference_mode():
        assert v48.decode(mel).shape[-1] == 2 * v48.decode(mel, output="24k").shape[-1]
        assert torch.equal(v48.decode(mel, output="24k"), v48.head24k(mel))
        assert torch.equal(v48(mel), v48.decode(mel, output="48k"))
    assert (v48.sample_rate, v24.sample_rate) == (48000, 24000)
    with pytest.raises(InvalidOptionError, match="48 kHz"):
        v24.decode(golden_mels("vocoder_24k")[0], output="48k")
    with pytest.raises(InvalidOptionError, match="output"):
        v48.decode(mel, output="96k")


def test_crossover_hz_is_settable_and_checked():
    vocoder = load("vocoder_48k")
    mel = golden_mels("vocoder_48k")[0]
    with torch.inference_mode():
        vocoder.crossover_hz = 12000
        at_12k = vocoder.decode(mel)
        vocoder.crossover_hz = 4000
        at_4k = vocoder.decode(mel)
    assert vocoder.crossover_hz == 4000.0
    assert not torch.allclose(at_12k, at_4k, atol=1e-4)
    for bad in (0, -1, 30000, "12k", float("nan")):
        with pytest.raises(InvalidOptionError, match="crossover_hz"):
            vocoder.crossover_hz = bad


def test_mel_of_wrong_shape_is_refused():
    with pytest.raises(InvalidOptionError, match="mel must be"):
        load("vocoder_24k").decode(torch.zeros(1, 80, 10))


@pytest.mark.parametrize("subdir", list(WEIGHT_FILES))
def test_safetensors_loads_the_same_weights(subdir, tmp_path):
    folder = GOLDEN_DIR / subdir
    path = tmp_path / "model.safetensors"
    save_safetensors(read_state_dict(folder / WEIGHT_FILES[subdir]), path)
    a, b = load(subdir), load_vocoder(folder / "config.yaml", path)
    mel = golden_mels(subdir)[0]
    with torch.inference_mode():
        assert torch.equal(a.decode(mel), b.decode(mel))


def test_unsupported_class_in_yaml_is_a_config_error(tmp_path):
    spec = yaml.safe_load((GOLDEN_DIR / "vocoder_48k" / "config.yaml").read_text())
    spec["head"]["class_path"] = "vocos.heads.IMDCTCosHead"
    bad = tmp_path / "config.yaml"
    bad.write_text(yaml.safe_dump(spec))
    with pytest.raises(ConfigError, match="IMDCTCosHead"):
        load_vocoder(bad, GOLDEN_DIR / "vocoder_48k" / "vocos.bin")


def test_wrong_shape_is_a_checkpoint_error():
    sd = read_state_dict(GOLDEN_DIR / "vocoder_48k" / "vocos.bin")
    sd["head_48k.out.weight"] = sd["head_48k.out.weight"][:-2]
    with pytest.raises(CheckpointError, match="head_48k.out.weight"):
        load_vocoder(GOLDEN_DIR / "vocoder_48k" / "config.yaml", sd)


def test_weights_for_another_config_are_a_checkpoint_error():
    # the plain 24 kHz weights lack the upsampler and 48 kHz head the dual-head config needs
    with pytest.raises(CheckpointError, match="upsampler"):
        load_vocoder(GOLDEN_DIR / "vocoder_48k" / "config.yaml", GOLDEN_DIR / "vocoder_24k" / "pytorch_model.bin")


def test_extra_key_is_a_checkpoint_error():
    sd = read_state_dict(GOLDEN_DIR / "vocoder_24k" / "pytorch_model.bin")
    sd["backbone.extra.weight"] = torch.zeros(3)
    with pytest.raises(CheckpointError, match="backbone.extra.weight"):
        load_vocoder(GOLDEN_DIR / "vocoder_24k" / "config.yaml", sd)


def test_feature_extractor_buffers_are_optional_and_used_when_present():
    folder = GOLDEN_DIR / "vocoder_24k"
    sd = read_state_dict(folder / "pytorch_model.bin")
    with_buffers = load_vocoder(folder / "config.yaml", sd)
    stripped = {k: v for k, v in sd.items() if not k.startswith("feature_extractor.")}
    without = load_vocoder(folder / "config.yaml", stripped)
    assert torch.equal(with_buffers.feature_extractor.window, sd["feature_extractor.mel_spec.spectrogram.window"])
    assert torch.equal(without.feature_extractor.window, torch.hann_window(without.config.feature_extractor.n_fft))


def test_config_object_is_accepted_and_parameters_are_frozen():
    folder = GOLDEN_DIR / "vocoder_48k"
    vocoder = load_vocoder(VocoderConfig.from_yaml(folder / "config.yaml"), folder / "vocos.bin")
    assert not vocoder.training
    assert not any(p.requires_grad for p in vocoder.parameters())


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_network_keeps_float32_istft(dtype):
    folder = GOLDEN_DIR / "vocoder_48k"
    vocoder = load_vocoder(folder / "config.yaml", folder / "vocos.bin", dtype=dtype)
    assert vocoder.backbone.embed.weight.dtype == dtype
    assert vocoder.head.istft.window.dtype == torch.float32
    mel = golden_mels("vocoder_48k")[0]
    with torch.inference_mode():
        got, want = vocoder.decode(mel), load("vocoder_48k").decode(mel)
    assert got.dtype == torch.float32 and got.shape == want.shape
    assert (got - want).abs().max().item() < 0.05 * want.abs().max().item()


def _write(sd, path):
    if path.suffix == ".safetensors":
        save_safetensors(sd, path)
    else:
        torch.save(sd, path)
    return path


@pytest.mark.parametrize("suffix", [".safetensors", ".bin"])
def test_weight_files_are_checked_before_they_are_read(tmp_path, suffix):
    """A file goes through the tensor-by-tensor loader: its mistakes are named as a state dict's are."""
    folder = GOLDEN_DIR / "vocoder_48k"
    sd = read_state_dict(folder / "vocos.bin")
    bad_shape = dict(sd, **{"head_48k.out.weight": sd["head_48k.out.weight"][:-2]})
    with pytest.raises(CheckpointError, match=r"mis-shaped \[head_48k.out.weight"):
        load_vocoder(folder / "config.yaml", _write(bad_shape, tmp_path / f"shape{suffix}"))
    extra = dict(sd, **{"backbone.extra.weight": torch.zeros(3)})
    with pytest.raises(CheckpointError, match=r"unexpected \[backbone.extra.weight\]"):
        load_vocoder(folder / "config.yaml", _write(extra, tmp_path / f"extra{suffix}"))
    missing = {k: v for k, v in sd.items() if k != "head.out.bias"}
    with pytest.raises(CheckpointError, match=r"missing \[head.out.bias\]"):
        load_vocoder(folder / "config.yaml", _write(missing, tmp_path / f"missing{suffix}"))


@pytest.mark.parametrize("suffix", [".safetensors", ".bin"])
def test_a_file_loads_the_state_dicts_vocoder(tmp_path, suffix):
    """Every tensor of a file-loaded vocoder equals the state-dict-loaded one, feature buffers present or not."""
    folder = GOLDEN_DIR / "vocoder_24k"
    sd = read_state_dict(folder / "pytorch_model.bin")
    stripped = {k: v for k, v in sd.items() if not k.startswith("feature_extractor.")}
    for weights in (sd, stripped):
        want = load_vocoder(folder / "config.yaml", weights).state_dict()
        got = load_vocoder(folder / "config.yaml", _write(weights, tmp_path / f"w{len(weights)}{suffix}")).state_dict()
        assert set(got) == set(want)
        for key in want:
            assert torch.equal(got[key], want[key]), key


def test_snake_in_place_gives_the_formulas_bits_and_keeps_its_gradient():
    from luxtts.vocoder.upsampler import Snake

    torch.manual_seed(7)
    snake = Snake(6)
    with torch.no_grad():
        snake.alpha.copy_(torch.rand(1, 6, 1) * 2 + 0.1)
    x = torch.randn(2, 6, 50) * 3

    def formula(x):
        return x + (snake.alpha + 1e-9).reciprocal() * torch.sin(snake.alpha * x).pow(2)

    with torch.inference_mode():
        got = snake(x)
    assert torch.equal(got, formula(x).detach())
    assert torch.equal(x, x.clone())  # the input is not written
    xg = x.clone().requires_grad_(True)
    snake(xg).sum().backward()
    want = torch.autograd.grad(formula(x.clone().requires_grad_(True)).sum(), snake.alpha)[0]
    assert xg.grad is not None and snake.alpha.grad is not None
    assert torch.allclose(snake.alpha.grad, want)
