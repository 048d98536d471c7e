"""Reading a recording: file, bytes or array -> mono float32 at the model's rate, as librosa.load does it.

The steps, in this order (the golden prompts depend on it): read the first int(duration * native_rate)
frames as float32 at the file's own rate, mix channels by their mean, resample with soxr "HQ", then pad
with zeros or cut to ceil(n * (rate / native_rate)) samples computed in float64.
"""

from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Optional, Tuple, Union

import numpy as np
import soundfile as sf
import torch

from ..errors import (
    AudioDecodeError,
    AudioFileNotFoundError,
    EmptyAudioError,
    InvalidOptionError,
    NonFiniteAudioError,
    PromptTooShortError,
    SilentAudioError,
)
from .resample import check_rate, resample_numpy

MAX_CHANNELS = 8
# Nothing louder than one 16-bit step: digital silence (or dither), no voice to clone.
SILENCE_PEAK = 2.0 ** -15
MIN_PROMPT_SECONDS = 1.0

AudioSource = Union[str, os.PathLike, bytes, bytearray, memoryview, BinaryIO, Tuple[object, int]]

_WAV_DATA_SHORT = re.compile(r"^data\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)
_PLACEHOLDER_DATA_SIZE = 0x7FFFFFF0  # streaming writers put 0xFFFFFFFF-like sizes in the header
_MP3_SLACK_FRAMES = 2304  # an mp3 header's frame count is an estimate; allow two MPEG frames of slack


@dataclass(frozen=True)
class LoadedAudio:
    """A mono recording at ``sample_rate``; ``samples`` is a float32 tensor (N,)."""

    samples: torch.Tensor
    sample_rate: int
    source: str
    native_rate: int
    cropped: bool
    original_seconds: float

    @property
    def seconds(self) -> float:
        return self.samples.shape[-1] / self.sample_rate


def load_audio(source: AudioSource, sample_rate: int = 24000, duration: Optional[float] = None) -> LoadedAudio:
    """Load ``source`` as mono float32 at ``sample_rate`` Hz, keeping at most ``duration`` seconds.

    ``source``: a path (wav, flac, ogg/vorbis, ogg/opus, mp3: whatever soundfile decodes), raw bytes or a
    binary file object holding such a file, or a tuple ``(samples, rate)`` where samples is a numpy array or
    torch tensor, 1-D, or 2-D with channels on the smaller axis (which must be at most 8; ties count as
    channels-first). Integer arrays are scaled as soundfile reads PCM (int16 / 32768, int32 / 2**31).

    Raises AudioFileNotFoundError, AudioDecodeError, EmptyAudioError, NonFiniteAudioError,
    InvalidOptionError. Short or silent audio loads fine: see :func:`validate_prompt`.
    """
    sample_rate = check_rate("sample_rate", sample_rate)
    duration = _check_duration(duration)
    if isinstance(source, tuple):
        name, channels_first, native, total = _from_array(source, duration)
    else:
        name, channels_first, native, total = _from_file(source, duration)
    return _finish(name, channels_first, native, total, sample_rate)


def validate_prompt(audio: LoadedAudio, min_seconds: float = MIN_PROMPT_SECONDS) -> LoadedAudio:
    """Check that ``audio`` can serve as a voice prompt: long enough and not silent. Returns it unchanged."""
    if audio.seconds < min_seconds:
        raise PromptTooShortError(
            f"{audio.source}: the prompt is {audio.seconds:.2f} s long; a voice prompt needs at least "
            f"{min_seconds:g} s of speech"
        )
    peak = float(audio.samples.abs().max()) if audio.samples.numel() else 0.0
    if peak <= SILENCE_PEAK:
        raise SilentAudioError(
            f"{audio.source}: the recording is silent (peak amplitude {peak:.3g}); there is no voice to clone"
        )
    return audio


def _check_duration(duration: Optional[float]) -> Optional[float]:
    from ..inputs import as_float

    return as_float("duration", duration, 0.0, strict=True, none_ok=True)


def _finish(name: str, channels_first: np.ndarray, native: int, total: int, sample_rate: int) -> LoadedAudio:
    """(C, n) float32 at ``native`` Hz -> LoadedAudio; ``total`` is the uncropped frame count."""
    n = channels_first.shape[-1]
    if n == 0:
        raise EmptyAudioError(f"{name}: the recording has no samples")
    if not np.isfinite(channels_first).all():
        raise NonFiniteAudioError(f"{name}: the samples contain NaN or infinity")
    # Mean over axis 0 of the (C, n) view, the very call librosa's to_mono makes.
    mono = np.mean(channels_first, axis=0) if channels_first.shape[0] > 1 else channels_first[0]
    wav = resample_numpy(np.asarray(mono, dtype=np.float32), native, sample_rate)
    return LoadedAudio(
        samples=torch.from_numpy(np.ascontiguousarray(wav)),
        sample_rate=sample_rate,
        source=name,
        native_rate=native,
        cropped=total > n,
        original_seconds=total / native,
    )


def _crop_frames(duration: Optional[float], native: int) -> int:
    return -1 if duration is None else int(duration * native)


def _from_array(source: tuple, duration: Optional[float]) -> Tuple[str, np.ndarray, int, int]:
    if len(source) != 2:
        raise InvalidOptionError(f"an in-memory prompt must be a tuple (samples, sample_rate), got {len(source)} items")
    data, rate = source
    if np.ndim(rate) > 0 and np.ndim(data) == 0:
        raise InvalidOptionError(
            "an in-memory prompt must be (samples, sample_rate); this looks like (sample_rate, samples), the "
            "order Gradio and scipy.io.wavfile.read give: pass (samples, rate) instead"
        )
    native = check_rate("the sample rate of the (samples, sample_rate) prompt", rate)
    name = f"<array {type(data).__name__}>"
    if isinstance(data, torch.Tensor):
        data = data.detach().cpu().float().numpy() if data.is_floating_point() else data.detach().cpu().numpy()
    try:
        arr = np.asarray(data)
    except (ValueError, TypeError) as exc:
        raise InvalidOptionError(f"{name}: samples must be an array of numbers ({_describe(exc)})") from None
    arr = _to_float32(arr, name)
    if arr.ndim == 1:
        arr = arr[None, :]
    elif arr.ndim == 2:
        if min(arr.shape) > MAX_CHANNELS:
            raise InvalidOptionError(
                f"{name}: 2-D samples of shape {arr.shape} have no channel axis (at most {MAX_CHANNELS} channels)"
            )
        if arr.shape[0] > arr.shape[1]:
            arr = arr.T
    else:
        raise InvalidOptionError(f"{name}: samples must be 1-D or 2-D (channels, samples), got shape {arr.shape}")
    total = arr.shape[1]
    keep = _crop_frames(duration, native)
    if keep >= 0:
        arr = arr[:, :keep]
    return name, arr, native, total


def _to_float32(arr: np.ndarray, name: str) -> np.ndarray:
    if arr.dtype.kind == "f":
        return arr.astype(np.float32, copy=False)
    if arr.dtype == np.int16:
        return arr.astype(np.float32) / np.float32(2 ** 15)
    if arr.dtype == np.int32:
        return (arr.astype(np.float64) / 2.0 ** 31).astype(np.float32)
    raise InvalidOptionError(f"{name}: samples must be float, int16 or int32, got dtype {arr.dtype}")


def _from_file(source: object, duration: Optional[float]) -> Tuple[str, np.ndarray, int, int]:
    name, handle = _open_source(source)
    try:
        with sf.SoundFile(handle) as f:
            native, total, fmt = f.samplerate, f.frames, f.format
            log = f.extra_info
            keep = _crop_frames(duration, native)
            if total >= _UNKNOWN_LENGTH:
                data, total = _read_unknown_length(f, keep)
            else:
                data = f.read(frames=keep, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError, EOFError, OSError) as exc:
        raise AudioDecodeError(f"{name}: cannot decode as audio ({_describe(exc)})") from None
    _check_complete(name, fmt, log, data.shape[0], total if keep < 0 else min(keep, total))
    return name, data.T, native, total


# libsndfile's frame count for a file whose header does not state its length (a FLAC written to a pipe
# leaves total samples 0): SF_COUNT_MAX. Such a file is read a block at a time up to its end.
_UNKNOWN_LENGTH = 2 ** 62


def _read_unknown_length(f, keep: int) -> Tuple[np.ndarray, int]:
    """Up to ``keep`` frames (all: -1) of a file of unknown length, and the frames seen: the total when it was
    read to its end, else a lower bound one block past ``keep`` (so that the audio counts as cropped).
    libsndfile fails the read that reaches the end of such a file, losing what that read would have returned:
    small blocks keep the loss to the last few milliseconds."""
    block = 256
    parts = []
    seen = 0
    while keep < 0 or seen <= keep:
        try:
            got = f.read(frames=block, dtype="float32", always_2d=True)
        except sf.LibsndfileError:
            if not seen:
                raise
            break  # libsndfile seeks past the end of such a FLAC: that is its end
        parts.append(got)
        seen += got.shape[0]
        if got.shape[0] < block:
            break
    data = np.concatenate(parts) if parts else np.zeros((0, f.channels), np.float32)
    return (data if keep < 0 else data[:keep]), seen


def _open_source(source: object) -> Tuple[str, object]:
    """Return a display name and something soundfile can open; raise for missing or unusable paths."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return f"<{len(source)} bytes>", io.BytesIO(bytes(source))
    if isinstance(source, (str, os.PathLike)):
        text = os.fspath(source)
        if isinstance(text, bytes) or not text or "\x00" in text:
            raise InvalidOptionError(f"audio path must be a non-empty str without NUL characters, got {text[:60]!r}")
        path = Path(text).expanduser()
        try:
            path.exists()
        except OSError as exc:
            raise AudioFileNotFoundError(f"{text[:120]!r}: not a usable path ({exc.strerror})") from None
        if not path.exists():
            raise AudioFileNotFoundError(f"{path}: audio file not found")
        if path.is_dir():
            raise AudioDecodeError(f"{path}: is a folder, not an audio file")
        if not os.access(path, os.R_OK):
            raise AudioDecodeError(f"{path}: cannot read the file (permission denied)")
        return str(path), str(path)
    if hasattr(source, "read"):
        name = str(getattr(source, "name", "<file object>"))[:160]
        if isinstance(source, io.TextIOBase):
            raise InvalidOptionError(f"{name}: the file object is open in text mode; open audio with open(path, 'rb')")
        seekable = getattr(source, "seekable", None)
        if seekable is not None and seekable():
            return name, source
        try:  # soundfile seeks while probing the format: buffer pipes and sockets first
            return name, io.BytesIO(source.read())
        except (OSError, ValueError, TypeError) as exc:
            raise AudioDecodeError(f"{name}: cannot read the stream ({_describe(exc)})") from None
    raise InvalidOptionError(
        f"cannot load audio from a {type(source).__name__}; accepted: a path, bytes, a binary file object, "
        "a tuple (samples, sample_rate), or a samples array/tensor with its rate as such a tuple"
    )


def _check_complete(name: str, fmt: str, log: str, got: int, expected: int) -> None:
    """Raise AudioDecodeError if the file holds less audio than its header promises."""
    short = _WAV_DATA_SHORT.search(log or "")
    if short and _PLACEHOLDER_DATA_SIZE > int(short.group(1)) > int(short.group(2)):
        raise AudioDecodeError(
            f"{name}: the file is truncated (its header promises {short.group(1)} bytes of audio, "
            f"it holds {short.group(2)})"
        )
    slack = _MP3_SLACK_FRAMES if fmt == "MP3" else 0
    if got + slack < expected:
        raise AudioDecodeError(f"{name}: the file is truncated ({got} of {expected} frames could be decoded)")


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    # libsndfile messages start with "Error opening <name>: "; the name is already in ours.
    text = re.sub(r"^Error opening .*?: ", "", text)
    text = text if len(text) <= 160 else text[:155] + " ..."
    return text or type(exc).__name__
