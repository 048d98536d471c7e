"""write_audio: round trips per format/rate/sample format, rate checks, atomic writes, streams."""

import io
import os

import numpy as np
import pytest
import soundfile as sf
import torch

import luxtts.audio.write as write_mod
from luxtts.audio import resampled_length, write_audio
from luxtts.errors import AudioWriteError, NonFiniteAudioError

LOSSLESS = {"wav": "WAV", "flac": "FLAC"}
LOSSY = {"ogg": "OGG", "opus": "OGG", "mp3": "MP3"}
SUFFIX = {"wav": ".wav", "flac": ".flac", "ogg": ".ogg", "opus": ".opus", "mp3": ".mp3"}


def sweep(rate: int, seconds: float = 0.8) -> torch.Tensor:
    t = torch.arange(int(rate * seconds), dtype=torch.float64) / rate
    return (0.5 * torch.sin(2 * torch.pi * (300 + 400 * t) * t)).float()


def snr_db(ref: np.ndarray, got: np.ndarray) -> float:
    err = got - ref
    return 10 * np.log10(np.sum(ref.astype(np.float64) ** 2) / max(np.sum(err.astype(np.float64) ** 2), 1e-30))


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("rate", [24000, 48000])
@pytest.mark.parametrize("subtype", ["float", "pcm16"])
@pytest.mark.parametrize("fmt", list(SUFFIX))
def test_round_trip(tmp_path, fmt, rate, subtype):
    wav = sweep(rate)
    path = tmp_path / f"out{SUFFIX[fmt]}"
    if fmt == "flac" and subtype == "float":
        with pytest.raises(AudioWriteError, match="pcm16"):
            write_audio(path, wav, rate, subtype=subtype)
        assert leftovers(tmp_path) == []
        return
    write_audio(path, wav, rate, subtype=subtype)
    assert leftovers(tmp_path) == [path.name]
    info = sf.info(str(path))
    assert info.samplerate == rate and info.channels == 1
    assert info.format == {**LOSSLESS, **LOSSY}[fmt]
    got, got_rate = sf.read(str(path), dtype="float32")
    assert got_rate == rate and got.shape == (wav.shape[0],)
    ref = wav.numpy()
    if fmt in LOSSLESS:
        tol = 0.0 if subtype == "float" else 1.0 / 32768
        assert np.abs(got - ref).max() <= tol
        assert info.subtype == ("FLOAT" if subtype == "float" else "PCM_16")
    else:
        assert info.subtype == {"ogg": "VORBIS", "opus": "OPUS", "mp3": "MPEG_LAYER_III"}[fmt]
        assert snr_db(ref, got) > 10


def test_flac_defaults_to_24_bit(tmp_path):
    write_audio(tmp_path / "a.flac", sweep(24000), 24000)
    assert sf.info(str(tmp_path / "a.flac")).subtype == "PCM_24"


def test_format_argument_beats_suffix(tmp_path):
    path = tmp_path / "voice.bin"
    write_audio(path, sweep(24000), 24000, format="ogg")
    assert sf.info(str(path)).format == "OGG"


def test_output_rate_resamples(tmp_path):
    wav = sweep(24000)
    path = tmp_path / "up.wav"
    write_audio(path, wav, 24000, output_rate=48000)
    got, rate = sf.read(str(path), dtype="float32")
    assert rate == 48000 and got.shape == (resampled_length(wav.shape[0], 24000, 48000),)


def test_stereo_channels_first(tmp_path):
    wav = torch.stack([sweep(24000), -sweep(24000)])
    write_audio(tmp_path / "st.wav", wav, 24000)
    got, _ = sf.read(str(tmp_path / "st.wav"), dtype="float32")
    assert np.array_equal(got, wav.T.numpy())


def test_pcm_is_clipped_float_is_not(tmp_path):
    wav = torch.tensor([0.0, 1.5, -2.0, 0.25] * 100)
    write_audio(tmp_path / "i.wav", wav, 24000, subtype="pcm16")
    write_audio(tmp_path / "f.wav", wav, 24000)
    pcm, _ = sf.read(str(tmp_path / "i.wav"), dtype="float32")
    flt, _ = sf.read(str(tmp_path / "f.wav"), dtype="float32")
    assert pcm.max() <= 1.0 and pcm.min() == -1.0 and pcm[1] > 0.999
    assert np.array_equal(flt, wav.numpy())


@pytest.mark.parametrize(
    "name,kwargs,match",
    [("a.opus", {"sample_rate": 44100}, "48000"), ("a.mp3", {"sample_rate": 96000}, "44100"),
     ("a.xyz", {}, ".wav"), ("a.wav", {"format": "aiff"}, "mp3"), ("a.wav", {"subtype": "pcm8"}, "pcm16"),
     ("a.wav", {"sample_rate": 0}, "sample_rate")],
)
def test_rejected_requests_leave_nothing(tmp_path, name, kwargs, match):
    kwargs = {"sample_rate": 24000, **kwargs}
    with pytest.raises(AudioWriteError, match=match) as info:
        write_audio(tmp_path / name, sweep(24000), **kwargs)
    assert name in str(info.value)
    assert leftovers(tmp_path) == []


def test_opus_at_44k_works_with_output_rate(tmp_path):
    write_audio(tmp_path / "a.opus", sweep(44100), 44100, output_rate=48000)
    assert sf.info(str(tmp_path / "a.opus")).samplerate == 48000


def test_bad_audio_is_refused(tmp_path):
    with pytest.raises(NonFiniteAudioError):
        write_audio(tmp_path / "a.wav", torch.tensor([0.0, float("nan")] * 50), 24000)
    with pytest.raises(AudioWriteError):
        write_audio(tmp_path / "a.wav", torch.zeros(0), 24000)
    with pytest.raises(AudioWriteError):
        write_audio(tmp_path / "a.wav", torch.zeros(2, 3, 100), 24000)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("exc", [RuntimeError("disk on fire"), KeyboardInterrupt()])
def test_failure_mid_write_leaves_nothing(tmp_path, monkeypatch, exc):
    def half_write(fh, *args, **kwargs):
        fh.write(b"RIFF" + b"\0" * 1000)
        raise exc

    monkeypatch.setattr(write_mod.sf, "write", half_write)
    target = tmp_path / "out.wav"
    with pytest.raises(AudioWriteError if isinstance(exc, Exception) else KeyboardInterrupt) as info:
        write_audio(target, sweep(24000), 24000)
    if isinstance(exc, Exception):
        assert "disk on fire" in str(info.value) and str(target) in str(info.value)
    assert leftovers(tmp_path) == []


def test_failed_write_keeps_previous_file(tmp_path, monkeypatch):
    target = tmp_path / "out.wav"
    write_audio(target, sweep(24000), 24000)
    before = target.read_bytes()

    def boom(*args, **kwargs):
        raise RuntimeError("encoder crashed")

    monkeypatch.setattr(write_mod.sf, "write", boom)
    with pytest.raises(AudioWriteError):
        write_audio(target, sweep(24000) * 0.5, 24000)
    assert target.read_bytes() == before and leftovers(tmp_path) == ["out.wav"]


def test_overwrite_and_permissions(tmp_path):
    target = tmp_path / "out.flac"
    write_audio(target, sweep(24000), 24000)
    write_audio(target, sweep(48000), 48000)
    assert sf.info(str(target)).samplerate == 48000
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


def test_missing_folder_and_folder_target(tmp_path):
    with pytest.raises(AudioWriteError, match="does not exist"):
        write_audio(tmp_path / "no" / "a.wav", sweep(24000), 24000)
    with pytest.raises(AudioWriteError, match="folder"):
        write_audio(tmp_path, sweep(24000), 24000)


def test_file_object_and_stdout(tmp_path, capsysbinary):
    buf = io.BytesIO()
    write_audio(buf, sweep(24000), 24000, format="flac", subtype="pcm16")
    got, rate = sf.read(io.BytesIO(buf.getvalue()), dtype="float32")
    assert rate == 24000 and got.shape == (sweep(24000).shape[0],)
    write_audio("-", sweep(24000), 24000)
    out = capsysbinary.readouterr().out
    assert out[:4] == b"RIFF"
    assert np.array_equal(sf.read(io.BytesIO(out), dtype="float32")[0], sweep(24000).numpy())


def test_failed_stream_write_writes_nothing(monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("encoder crashed")

    monkeypatch.setattr(write_mod.sf, "write", boom)
    buf = io.BytesIO()
    with pytest.raises(AudioWriteError):
        write_audio(buf, sweep(24000), 24000, format="mp3")
    assert buf.getvalue() == b""
