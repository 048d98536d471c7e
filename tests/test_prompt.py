"""VoicePrompt: exact save/load as safetensors + JSON metadata, no pickle; upstream dict conversion."""

from __future__ import annotations

import json
import struct

import pytest
import torch
from safetensors.torch import save_file

from luxtts.errors import CheckpointError, InvalidOptionError, VoiceFileNotFoundError
from luxtts.prompt import VoicePrompt, as_prompt


def make_prompt(**changes) -> VoicePrompt:
    g = torch.Generator().manual_seed(3)
    fields = dict(
        features=torch.randn(123, 100, generator=g) * 0.7 - 0.3,
        tokens=[5, 3, 17, 0, 99],
        rms=0.08212069422006607,
        transcript="And you always want to see it — «ünïcode» 你好.",
        source="/tmp/ref.wav",
        sample_rate=24000,
        duration=4.9876,
        cropped=True,
        target_rms=0.01,
        vocab_sha256="ab" * 32,
        extra={"note": "x"},
    )
    fields.update(changes)
    return VoicePrompt(**fields)


def test_save_load_is_exact(tmp_path):
    prompt = make_prompt()
    path = prompt.save(tmp_path / "voice.safetensors")
    loaded = VoicePrompt.load(path)
    assert torch.equal(loaded.features, prompt.features)
    assert loaded.features.dtype == torch.float32
    for name in ("tokens", "rms", "transcript", "source", "sample_rate", "duration", "cropped", "target_rms",
                 "vocab_sha256"):
        assert getattr(loaded, name) == getattr(prompt, name), name
    assert dict(loaded.extra) == {"note": "x"}
    assert loaded == prompt
    # the float32 value the loudness rule uses survives too
    assert torch.tensor(loaded.rms, dtype=torch.float32) == torch.tensor(prompt.rms, dtype=torch.float32)


def test_equality_sees_one_changed_value():
    a = make_prompt()
    features = a.features.clone()
    features[7, 7] = torch.nextafter(features[7, 7], torch.tensor(10.0))
    assert make_prompt(features=features) != a
    assert make_prompt(tokens=[5, 3, 17, 0, 98]) != a
    assert make_prompt(rms=0.0821206942200661) != a


def test_file_is_plain_safetensors_without_pickle(tmp_path):
    path = make_prompt().save(tmp_path / "v.safetensors")
    raw = path.read_bytes()
    (header_len,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + header_len])
    assert set(header) == {"__metadata__", "features"}
    assert header["features"]["dtype"] == "F32"
    assert b"\x80\x04" not in raw[: 8 + header_len]  # no pickle protocol marker in the header


def test_load_rejects_other_safetensors(tmp_path):
    path = tmp_path / "weights.safetensors"
    save_file({"features": torch.zeros(3, 100)}, str(path))
    with pytest.raises(CheckpointError, match="not a luxtts voice"):
        VoicePrompt.load(path)


def test_load_rejects_garbage_and_missing(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file at all")
    with pytest.raises(CheckpointError, match="not a readable voice file"):
        VoicePrompt.load(bad)
    with pytest.raises(VoiceFileNotFoundError, match="not found"):
        VoicePrompt.load(tmp_path / "nope.safetensors")


def test_future_version_is_refused(tmp_path):
    prompt = make_prompt()
    meta = prompt._meta()
    meta["version"] = 99
    save_file({"features": prompt.features}, str(tmp_path / "v.safetensors"),
              metadata={"luxtts_voice": json.dumps(meta)})
    with pytest.raises(CheckpointError, match="version 99"):
        VoicePrompt.load(tmp_path / "v.safetensors")


@pytest.mark.parametrize("features", [torch.zeros(100), torch.zeros(0, 100), torch.zeros(1, 2, 100)])
def test_bad_features_shape(features):
    with pytest.raises(InvalidOptionError, match="features"):
        make_prompt(features=features)


def test_empty_tokens_rejected():
    with pytest.raises(InvalidOptionError, match="tokens"):
        make_prompt(tokens=[])


def test_upstream_dict_round_trip():
    prompt = make_prompt()
    upstream = prompt.to_upstream()
    assert upstream["prompt_features"].shape == (1, 123, 100)
    assert upstream["prompt_tokens"] == [prompt.tokens]
    assert int(upstream["prompt_features_lens"][0]) == 123
    back = as_prompt(upstream)
    assert torch.equal(back.features, prompt.features)
    assert back.tokens == prompt.tokens
    assert back.rms == float(torch.tensor(prompt.rms, dtype=torch.float32))


def test_upstream_dict_missing_key():
    with pytest.raises(InvalidOptionError, match="prompt_rms"):
        as_prompt({"prompt_tokens": [[1]], "prompt_features": torch.zeros(1, 4, 100)})


def test_as_prompt_reads_a_saved_file(tmp_path):
    prompt = make_prompt()
    path = prompt.save(tmp_path / "v.safetensors")
    assert as_prompt(str(path)) == prompt
    with pytest.raises(InvalidOptionError, match="VoicePrompt"):
        as_prompt(42)
