"""Loading ZipVoice checkpoints: accepted layouts, refused files, and errors that name the problem."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import torch

from conftest import GOLDEN_DIR, golden_spec
from luxtts.errors import CheckpointError, ConfigError
from luxtts.model import ZipVoiceModel, convert_checkpoint, load_acoustic_model

SUBDIRS = ("model_distill", "model_base")


def golden_files(subdir: str):
    folder = GOLDEN_DIR / subdir
    return folder / "model.pt", folder / "config.json", folder / "tokens.txt"


def golden_state_dict(subdir: str) -> dict:
    return torch.load(golden_files(subdir)[0], map_location="cpu", weights_only=True)["model"]


def assert_same_weights(model: ZipVoiceModel, state_dict: dict) -> None:
    got = model.state_dict()
    assert set(got) == set(state_dict)
    for k, v in state_dict.items():
        assert torch.equal(got[k], v), k


@pytest.mark.parametrize("subdir", SUBDIRS)
def test_published_layout_loads_every_tensor(subdir):
    ckpt, cfg, tokens = golden_files(subdir)
    model = load_acoustic_model(ckpt, cfg, tokens)
    assert not model.training
    assert model.config.vocab_size == len(tokens.read_text(encoding="utf-8").splitlines())
    assert model.config.pad_id == 0
    assert_same_weights(model, golden_state_dict(subdir))


@pytest.mark.parametrize(
    "wrap",
    [
        pytest.param(lambda sd: sd, id="bare"),
        pytest.param(lambda sd: {"model": {f"module.{k}": v for k, v in sd.items()}}, id="ddp-prefix"),
    ],
)
def test_other_torch_layouts_load(tmp_path, wrap):
    sd = golden_state_dict("model_distill")
    path = tmp_path / "ckpt.pt"
    torch.save(wrap(sd), path)
    _, cfg, tokens = golden_files("model_distill")
    model = load_acoustic_model(path, cfg, tokens)
    assert model.is_distill
    assert_same_weights(model, sd)


@pytest.mark.parametrize("subdir", SUBDIRS)
def test_convert_to_safetensors_round_trip(tmp_path, subdir):
    ckpt, cfg, tokens = golden_files(subdir)
    out = convert_checkpoint(ckpt, tmp_path / "model.safetensors")
    model = load_acoustic_model(out, cfg, tokens)
    assert model.is_distill is (golden_spec(subdir)["model_class"] == "ZipVoiceDistill")
    assert_same_weights(model, golden_state_dict(subdir))


class _RunsCode:
    """Unpickling this would create ``marker`` (a stand-in for arbitrary code execution)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_checkpoint_needing_code_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "code_ran"
    sd = golden_state_dict("model_distill")
    path = tmp_path / "evil.pt"
    torch.save({"model": sd, "payload": _RunsCode(marker)}, path)
    _, cfg, tokens = golden_files("model_distill")
    with pytest.raises(CheckpointError) as err:
        load_acoustic_model(path, cfg, tokens)
    assert "evil.pt" in str(err.value)
    assert not marker.exists(), "loading a checkpoint executed code from it"


def test_missing_key_is_named(tmp_path):
    sd = golden_state_dict("model_distill")
    dropped = "fm_decoder.encoders.2.encoder.layers.1.conv_module2.depthwise_conv.weight"
    del sd[dropped]
    path = tmp_path / "partial.pt"
    torch.save({"model": sd}, path)
    _, cfg, tokens = golden_files("model_distill")
    with pytest.raises(CheckpointError, match="missing") as err:
        load_acoustic_model(path, cfg, tokens)
    assert dropped in str(err.value)


@pytest.mark.parametrize(
    "key,value,param",
    [
        ("fm_decoder_feedforward_dim", 128, r"fm_decoder\.encoders\.\d\.[\w.]*feed_forward\d\.\w+\.(weight|bias)"),
        ("text_encoder_dim", 64, r"text_encoder\.[\w.]+\.(weight|bias|bypass_scale)"),
    ],
)
def test_config_with_wrong_dimension_names_the_parameter(tmp_path, key, value, param):
    """The error names a mis-shaped parameter with both shapes."""
    ckpt, cfg, tokens = golden_files("model_distill")
    config = json.loads(cfg.read_text(encoding="utf-8"))
    config["model"][key] = value
    bad_cfg = tmp_path / "config.json"
    bad_cfg.write_text(json.dumps(config), encoding="utf-8")
    with pytest.raises(CheckpointError) as err:
        load_acoustic_model(ckpt, bad_cfg, tokens)
    assert re.search(param + r": file \(\d+(, \d+)*\) vs config \(", str(err.value)), str(err.value)


def test_tokens_without_pad_is_a_config_error(tmp_path):
    ckpt, cfg, tokens = golden_files("model_distill")
    lines = [ln for ln in tokens.read_text(encoding="utf-8").splitlines() if not ln.startswith("_\t")]
    bad = tmp_path / "tokens.txt"
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="_"):
        load_acoustic_model(ckpt, cfg, bad)


def test_wrong_vocab_size_is_named(tmp_path):
    ckpt, cfg, tokens = golden_files("model_distill")
    bad = tmp_path / "tokens.txt"
    shutil.copy(tokens, bad)
    with bad.open("a", encoding="utf-8") as f:
        f.write("extra\t999\n")
    with pytest.raises(CheckpointError, match="embed.weight"):
        load_acoustic_model(ckpt, cfg, bad)


def test_non_zipvoice_file_is_refused(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"model": {"backbone.weight": torch.zeros(2)}}, path)
    _, cfg, tokens = golden_files("model_distill")
    with pytest.raises(CheckpointError, match="ZipVoice"):
        load_acoustic_model(path, cfg, tokens)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_load_and_sample(dtype):
    """Weights in half precision, ODE state in float32: output stays finite and near the float32 result."""
    ckpt, cfg, tokens = golden_files("model_distill")
    ref = load_acoustic_model(ckpt, cfg, tokens)
    half = load_acoustic_model(ckpt, cfg, tokens, dtype=dtype)
    assert all(p.dtype == dtype for p in half.parameters())
    gen = torch.Generator().manual_seed(0)
    prompt = torch.randn(1, 40, ref.config.feat_dim, generator=gen) * 0.3 - 0.5
    args = ([[5, 6, 7, 8, 9, 10]], [[11, 12, 13, 14]], prompt, torch.tensor([40]))
    want, want_lens = ref.sample(*args, generator=torch.Generator().manual_seed(1))
    got, got_lens = half.sample(*args, generator=torch.Generator().manual_seed(1))
    assert got.dtype == torch.float32 and torch.isfinite(got).all()
    assert torch.equal(got_lens, want_lens)
    assert (got - want).abs().max().item() < 0.1 * want.abs().max().item()


def test_transformed_linears_are_read_into_one_reused_buffer_and_kept_ones_own_their_weight():
    """With a linear_transform, loading reads each linear's weight into one shared buffer (no float32 copy per
    layer to leave a hole in the heap); a layer the transform keeps gets its weight out of that buffer."""
    ckpt, cfg, tokens = golden_files("model_distill")
    want = golden_state_dict("model_distill")
    seen = []

    def transform(name, linear):
        seen.append((name, linear.weight.data_ptr()))
        assert torch.equal(linear.weight, want[f"{name}.weight"]), name  # the file's values, in the buffer
        return linear  # keep every layer

    model = load_acoustic_model(ckpt, cfg, tokens, linear_transform=transform)
    linears = [n for n, m in model.named_modules() if n and isinstance(m, torch.nn.Linear)]
    assert [n for n, _ in seen] == linears
    assert len({ptr for _, ptr in seen}) == 1  # one buffer for all of them
    owned = {m.weight.data_ptr() for n, m in model.named_modules() if n and isinstance(m, torch.nn.Linear)}
    assert len(owned) == len(linears) and not owned & {ptr for _, ptr in seen}
    assert_same_weights(model, want)
