"""load_audio / validate_prompt on real files made in tmp_path: formats, cropping, and every bad input."""

import io

import numpy as np
import pytest
import soundfile as sf
import torch

from luxtts.audio import load_audio, resampled_length, rms_normalize, validate_prompt
from luxtts.errors import (
    AudioDecodeError,
    AudioError,
    AudioFileNotFoundError,
    EmptyAudioError,
    InvalidOptionError,
    NonFiniteAudioError,
    PromptTooShortError,
    SilentAudioError,
)

RATE = 16000


def tone(seconds: float, rate: int = RATE, amp: float = 0.3, channels: int = 1) -> np.ndarray:
    t = np.arange(int(round(seconds * rate))) / rate
    x = np.stack([amp * np.sin(2 * np.pi * (220 + 110 * c) * t) for c in range(channels)], axis=1)
    return x.astype(np.float32)


def write(path, data, rate=RATE, **kw):
    sf.write(str(path), data, rate, **kw)
    return path


def assert_clean_error(info, name):
    """The message names the file, and no library traceback is chained behind it."""
    assert str(name) in str(info.value)
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__ or info.value.__context__ is None


@pytest.mark.parametrize(
    "suffix,fmt,subtype",
    [(".wav", "WAV", "PCM_16"), (".flac", "FLAC", "PCM_24"), (".ogg", "OGG", "VORBIS"),
     (".opus", "OGG", "OPUS"), (".mp3", "MP3", "MPEG_LAYER_III")],
)
def test_every_input_format_loads(tmp_path, suffix, fmt, subtype):
    rate = 48000 if subtype == "OPUS" else 44100 if fmt == "MP3" else RATE
    src = tone(1.5, rate, channels=2)
    path = write(tmp_path / f"in{suffix}", src, rate, format=fmt, subtype=subtype)
    loaded = load_audio(path)
    assert loaded.native_rate == rate and loaded.sample_rate == 24000
    assert loaded.samples.shape == (resampled_length(src.shape[0], rate, 24000),)
    assert loaded.samples.dtype == torch.float32
    assert not loaded.cropped and loaded.original_seconds == pytest.approx(1.5)
    assert 0.1 < float(loaded.samples.abs().max()) < 0.7
    assert loaded.source == str(path)


def test_crop_to_duration(tmp_path):
    path = write(tmp_path / "long.wav", tone(3.0), subtype="FLOAT")
    loaded = load_audio(path, duration=1.25)
    assert loaded.cropped and loaded.original_seconds == pytest.approx(3.0)
    assert loaded.samples.shape == (resampled_length(int(1.25 * RATE), RATE, 24000),)
    full = load_audio(path, duration=10)
    assert not full.cropped and full.samples.shape == (resampled_length(3 * RATE, RATE, 24000),)


def test_same_rate_is_not_resampled(tmp_path):
    src = tone(1.2, 24000)[:, 0]
    loaded = load_audio(write(tmp_path / "a.wav", src, 24000, subtype="FLOAT"), sample_rate=24000)
    assert torch.equal(loaded.samples, torch.from_numpy(src))


def test_other_target_rate_and_int_arrays():
    pcm = (tone(1.0)[:, 0] * 32767).astype(np.int16)
    loaded = load_audio((pcm, RATE), sample_rate=RATE)
    assert torch.equal(loaded.samples, torch.from_numpy(pcm.astype(np.float32) / 32768))
    assert load_audio((pcm, RATE), sample_rate=48000).samples.shape == (3 * pcm.shape[0],)


def test_missing_path(tmp_path):
    missing = tmp_path / "nope.wav"
    with pytest.raises(AudioFileNotFoundError) as info:
        load_audio(missing)
    assert isinstance(info.value, FileNotFoundError)
    assert_clean_error(info, missing)


def test_truncated_wav(tmp_path):
    full = write(tmp_path / "full.wav", tone(2.0), subtype="PCM_16")
    data = full.read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(AudioDecodeError) as info:
        load_audio(cut)
    assert "truncated" in str(info.value)
    assert_clean_error(info, cut)
    load_audio(full)  # the intact file is fine


@pytest.mark.parametrize("suffix,fmt", [(".flac", "FLAC"), (".mp3", "MP3"), (".ogg", "OGG")])
def test_truncated_compressed(tmp_path, suffix, fmt):
    data = write(tmp_path / f"full{suffix}", tone(2.0, 24000), 24000, format=fmt).read_bytes()
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(AudioDecodeError) as info:
        load_audio(cut)
    assert_clean_error(info, cut)


def test_text_file_renamed_wav(tmp_path):
    fake = tmp_path / "notes.wav"
    fake.write_text("this is not audio at all\n" * 20)
    with pytest.raises(AudioDecodeError) as info:
        load_audio(fake)
    assert_clean_error(info, fake)
    with pytest.raises(AudioDecodeError):
        load_audio(fake.read_bytes())


def test_header_only_wav_is_empty(tmp_path):
    empty = write(tmp_path / "empty.wav", np.zeros((0, 1), np.float32))
    with pytest.raises(EmptyAudioError) as info:
        load_audio(empty)
    assert_clean_error(info, empty)
    with pytest.raises(EmptyAudioError):
        load_audio((np.zeros(0, np.float32), RATE))


def test_zero_byte_file(tmp_path):
    blank = tmp_path / "blank.wav"
    blank.write_bytes(b"")
    with pytest.raises(AudioDecodeError) as info:
        load_audio(blank)
    assert_clean_error(info, blank)


def test_folder_is_not_audio(tmp_path):
    with pytest.raises(AudioDecodeError) as info:
        load_audio(tmp_path)
    assert_clean_error(info, tmp_path)


def test_silent_file_loads_but_is_no_prompt(tmp_path):
    silent = write(tmp_path / "silent.wav", np.zeros((RATE * 2, 1), np.float32), subtype="PCM_16")
    loaded = load_audio(silent)
    with pytest.raises(SilentAudioError) as info:
        validate_prompt(loaded)
    assert_clean_error(info, silent)
    with pytest.raises(SilentAudioError):
        rms_normalize(loaded.samples, 0.1)


def test_short_file_loads_but_is_no_prompt(tmp_path):
    short = write(tmp_path / "short.wav", tone(0.3), subtype="PCM_16")
    loaded = load_audio(short)
    assert loaded.seconds == pytest.approx(0.3)
    with pytest.raises(PromptTooShortError) as info:
        validate_prompt(loaded)
    assert_clean_error(info, short)
    assert "0.30" in str(info.value)
    assert validate_prompt(loaded, min_seconds=0.25) is loaded
    ok = load_audio(write(tmp_path / "ok.wav", tone(1.0), subtype="PCM_16"))
    assert validate_prompt(ok) is ok


def test_nan_samples(tmp_path):
    data = tone(1.5)
    data[1000, 0] = np.nan
    bad = write(tmp_path / "nan.wav", data, subtype="FLOAT")
    with pytest.raises(NonFiniteAudioError) as info:
        load_audio(bad)
    assert_clean_error(info, bad)
    data[1000, 0] = np.inf
    with pytest.raises(NonFiniteAudioError):
        load_audio((data, RATE))


def test_every_audio_error_is_a_value_error():
    for cls in (AudioDecodeError, EmptyAudioError, SilentAudioError, PromptTooShortError, NonFiniteAudioError):
        assert issubclass(cls, AudioError) and issubclass(cls, ValueError)


@pytest.mark.parametrize(
    "source,kwargs",
    [((np.zeros((20, 20), np.float32), RATE), {}), ((np.zeros((2, 3, 4), np.float32), RATE), {}),
     ((np.zeros(10, np.complex64), RATE), {}), ((np.zeros(10, np.float32), 0), {}),
     ((np.zeros(10, np.float32),), {}), (12345, {}), ((np.ones(10, np.float32), RATE), {"duration": -1}),
     ((np.ones(10, np.float32), RATE), {"sample_rate": 24000.5})],
)
def test_bad_arguments(source, kwargs):
    with pytest.raises(InvalidOptionError):
        load_audio(source, **kwargs)


def test_non_seekable_stream(tmp_path):
    path = write(tmp_path / "a.flac", tone(1.2), format="FLAC")

    class Pipe(io.RawIOBase):
        def __init__(self, data):
            self._buf = io.BytesIO(data)

        def readable(self):
            return True

        def seekable(self):
            return False

        def readinto(self, b):
            return self._buf.readinto(b)

    assert torch.equal(load_audio(Pipe(path.read_bytes())).samples, load_audio(path).samples)


def test_a_flac_of_unknown_length_loads_whole_or_cropped():
    """A FLAC written to a pipe states no length (libsndfile then reports SF_COUNT_MAX frames): it loads, cropped
    exactly as the same audio with a length, or whole but for at most the last 256 frames."""
    import io

    import numpy as np
    import soundfile as sf
    from audio_samples import flac_without_length

    from luxtts.audio import load_audio

    rate = 16000
    samples = (np.random.default_rng(1).standard_normal(rate * 7) * 0.1).astype(np.float32)
    stated = io.BytesIO()
    sf.write(stated, samples, rate, format="FLAC")
    unknown = flac_without_length(samples, rate)
    cropped, reference = load_audio(unknown, rate, duration=3), load_audio(stated.getvalue(), rate, duration=3)
    assert cropped.cropped and torch.equal(cropped.samples, reference.samples)
    whole = load_audio(unknown, rate)
    assert not whole.cropped and len(samples) - 256 <= whole.samples.shape[-1] <= len(samples)
    assert torch.equal(whole.samples, load_audio(stated.getvalue(), rate).samples[..., : whole.samples.shape[-1]])
