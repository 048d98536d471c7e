"""Model resolution: local layouts, the Hugging Face cache offline, and the documented errors."""

from __future__ import annotations

import shutil

import pytest

from conftest import GOLDEN_DIR
from golden_model import build_luxtts_folder
from luxtts.errors import ModelNotFoundError
from luxtts.hub import is_cached, resolve_model

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def zipvoice_folder(dest, with_vocoder=True):
    src = GOLDEN_DIR / "model_distill"
    dest.mkdir(parents=True)
    shutil.copyfile(src / "model.pt", dest / "model.pt")
    shutil.copyfile(src / "config.json", dest / "model.json")
    shutil.copyfile(src / "tokens.txt", dest / "tokens.txt")
    if with_vocoder:
        (dest / "vocoder").mkdir()
        for name in ("config.yaml", "pytorch_model.bin"):
            shutil.copyfile(GOLDEN_DIR / "vocoder_24k" / name, dest / "vocoder" / name)
    return dest


def fake_hf_cache(cache, repo_id, build):
    """Lay out ``cache`` as huggingface_hub does after a download of ``repo_id``."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(COMMIT)
    build(repo / "snapshots" / COMMIT)
    return cache


def test_luxtts_layout(tmp_path):
    folder = build_luxtts_folder(tmp_path / "lux")
    files = resolve_model(folder)
    assert files.layout == "luxtts" and files.vocoder_is_48k
    assert files.checkpoint == folder / "model.pt"
    assert files.config == folder / "config.json"
    assert files.vocoder_weights == folder / "vocoder" / "vocos.bin"
    # a weight file path resolves to its folder
    assert resolve_model(folder / "model.pt").folder == folder


def test_safetensors_layout_is_preferred(tmp_path):
    folder = build_luxtts_folder(tmp_path / "lux")
    (folder / "model.safetensors").write_bytes(b"x")
    (folder / "vocoder" / "model.safetensors").write_bytes(b"x")
    files = resolve_model(folder)
    assert files.checkpoint.name == "model.safetensors"
    assert files.vocoder_weights == folder / "vocoder" / "model.safetensors"


def test_zipvoice_layout_with_own_vocoder(tmp_path):
    files = resolve_model(zipvoice_folder(tmp_path / "zv"))
    assert files.layout == "zipvoice" and not files.vocoder_is_48k
    assert files.config.name == "model.json"
    assert files.vocoder_weights.name == "pytorch_model.bin"


def test_zipvoice_layout_with_vocoder_argument(tmp_path):
    folder = zipvoice_folder(tmp_path / "zv", with_vocoder=False)
    files = resolve_model(folder, vocoder=GOLDEN_DIR / "vocoder_24k")
    assert files.vocoder_config == GOLDEN_DIR / "vocoder_24k" / "config.yaml"


def test_zipvoice_vocoder_fetched_from_cache_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder = zipvoice_folder(tmp_path / "zv", with_vocoder=False)

    def vocos(snapshot):
        snapshot.mkdir(parents=True)
        for name in ("config.yaml", "pytorch_model.bin"):
            shutil.copyfile(GOLDEN_DIR / "vocoder_24k" / name, snapshot / name)

    cache = fake_hf_cache(tmp_path / "hf", "charactr/vocos-mel-24khz", vocos)
    files = resolve_model(folder, cache_dir=cache)
    assert files.vocoder_weights.name == "pytorch_model.bin"
    assert str(cache) in str(files.vocoder_weights)


def test_repo_id_from_cache_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cache = fake_hf_cache(tmp_path / "hf", "someone/tiny-lux", lambda s: build_luxtts_folder(s))
    assert is_cached("someone/tiny-lux", cache_dir=cache)
    files = resolve_model("someone/tiny-lux", cache_dir=cache)
    assert files.layout == "luxtts"
    assert files.folder.name == COMMIT


def test_repo_subfolder_from_cache_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    def two_models(snapshot):
        zipvoice_folder(snapshot / "zipvoice_distill")
        zipvoice_folder(snapshot / "zipvoice")

    cache = fake_hf_cache(tmp_path / "hf", "k2-fsa/ZipVoice", two_models)
    files = resolve_model("k2-fsa/ZipVoice/zipvoice_distill", cache_dir=cache)
    assert files.folder.name == "zipvoice_distill"
    with pytest.raises(ModelNotFoundError, match=r"several models \(zipvoice, zipvoice_distill\)"):
        resolve_model("k2-fsa/ZipVoice", cache_dir=cache)


def test_offline_and_not_cached_is_the_documented_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFoundError) as info:
        resolve_model("YatharthS/LuxTTS", cache_dir=tmp_path / "empty")
    message = str(info.value)
    assert "'YatharthS/LuxTTS' is not in the Hugging Face cache" in message
    assert "HF_HUB_OFFLINE=1" in message
    assert "--model /path/to/folder" in message
    assert "LuxTTS.from_pretrained('/path/to/folder')" in message
    assert isinstance(info.value, FileNotFoundError)
    assert not is_cached("YatharthS/LuxTTS", cache_dir=tmp_path / "empty")


def test_missing_folder(tmp_path):
    with pytest.raises(ModelNotFoundError, match="model folder not found"):
        resolve_model(tmp_path / "nope")
    with pytest.raises(ModelNotFoundError, match="model folder not found"):
        resolve_model("./relative/nope")


@pytest.mark.parametrize("missing", ["tokens.txt", "model.pt", "vocoder/vocos.bin", "vocoder/config.yaml"])
def test_incomplete_luxtts_folder_names_the_missing_file(tmp_path, missing):
    folder = build_luxtts_folder(tmp_path / "lux")
    (folder / missing).unlink()
    expected = {"model.pt": "model.pt (or model.safetensors)",
                "vocoder/vocos.bin": "vocoder/vocos.bin (or vocoder/model.safetensors)"}.get(missing, missing)
    with pytest.raises(ModelNotFoundError, match="lacks " + expected.replace("(", r"\(").replace(")", r"\)")):
        resolve_model(folder)


def test_not_a_model_folder(tmp_path):
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(ModelNotFoundError, match="is not a model folder"):
        resolve_model(tmp_path)
