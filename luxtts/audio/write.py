"""Writing audio: wav, flac, ogg (vorbis), opus, mp3 through soundfile, atomically."""

from __future__ import annotations

import contextlib
import io
import os
import secrets
import sys
from pathlib import Path
from typing import BinaryIO, Callable, Dict, Optional, Tuple, Union

import numpy as np
import soundfile as sf
import torch

from ..errors import AudioWriteError, LuxTTSError, NonFiniteAudioError
from .resample import resample_numpy

# name -> (soundfile format, soundfile subtype per requested sample format, default sample format).
# Lossy codecs take float input and store no sample format, so any requested one maps to the codec.
_LOSSLESS: Dict[str, Tuple[str, Dict[str, str], str]] = {
    "wav": ("WAV", {"float": "FLOAT", "pcm16": "PCM_16", "pcm24": "PCM_24"}, "float"),
    "flac": ("FLAC", {"pcm16": "PCM_16", "pcm24": "PCM_24"}, "pcm24"),
}
_LOSSY: Dict[str, Tuple[str, str]] = {"ogg": ("OGG", "VORBIS"), "opus": ("OGG", "OPUS"), "mp3": ("MP3", "MPEG_LAYER_III")}
FORMATS = tuple(_LOSSLESS) + tuple(_LOSSY)
SUBTYPES = ("float", "pcm16", "pcm24")
SUFFIXES = {".wav": "wav", ".wave": "wav", ".flac": "flac", ".ogg": "ogg", ".oga": "ogg", ".opus": "opus", ".mp3": "mp3"}
# What the bundled encoders accept (libopus and LAME/MPEG-1/2 layer III); other formats take any rate.
CODEC_RATES = {
    "opus": (8000, 12000, 16000, 24000, 48000),
    "mp3": (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000),
}
MAX_CHANNELS = 8
STDOUT = "-"

Destination = Union[str, os.PathLike, BinaryIO]


def write_audio(
    dest: Destination,
    wav: Union[torch.Tensor, np.ndarray],
    sample_rate: int,
    *,
    format: Optional[str] = None,
    subtype: Optional[str] = None,
    output_rate: Optional[int] = None,
) -> None:
    """Write ``wav`` (N,) or (C, N) at ``sample_rate`` Hz to a path, a binary file object, or "-" (stdout).

    ``format``: one of FORMATS ("ogg" is Vorbis); None takes it from the path's suffix (wav for stdout and
    nameless file objects). ``subtype``: "float", "pcm16" or "pcm24", the stored sample format of wav (default
    float) and flac (default pcm24; FLAC cannot hold float); lossy formats ignore it. ``output_rate``:
    resample with soxr "HQ" to this rate first. Integer and lossy outputs are clipped to [-1, 1].
    A path is written to a temporary file in the same folder and renamed over the destination, so a failed
    write leaves nothing behind. Raises AudioWriteError, NonFiniteAudioError.
    """
    label = _label(dest)
    fmt = _resolve_format(dest, format, label)
    sf_format, sf_subtype = _resolve_subtype(fmt, subtype, label)
    rate = _resolve_rate(fmt, sample_rate, output_rate, label)
    data = _prepare(wav, label)
    if rate != sample_rate:
        data = resample_numpy(data, int(sample_rate), rate)
    if sf_subtype != "FLOAT":
        data = np.clip(data, -1.0, 1.0)
    frames = np.ascontiguousarray(data.T)

    def encode(fh: BinaryIO) -> None:
        sf.write(fh, frames, rate, format=sf_format, subtype=sf_subtype)

    if isinstance(dest, str) and dest == STDOUT:
        _write_stream(sys.stdout.buffer, encode, label)
    elif isinstance(dest, (str, os.PathLike)):
        _write_atomic(Path(os.fspath(dest)).expanduser(), encode)
    else:
        _write_stream(dest, encode, label)


def _label(dest: object) -> str:
    if isinstance(dest, str) and dest == STDOUT:
        return "<stdout>"
    if isinstance(dest, (str, os.PathLike)):
        return os.fspath(dest)
    if hasattr(dest, "write"):
        return str(getattr(dest, "name", "<file object>"))
    raise AudioWriteError(f"cannot write audio to a {type(dest).__name__}; accepted: a path, '-', or a binary file object")


def _resolve_format(dest: object, format: Optional[str], label: str) -> str:
    if format is not None:
        fmt = str(format).lower().lstrip(".")
        if fmt not in FORMATS:
            raise AudioWriteError(f"{label}: unsupported audio format {format!r}; accepted: {', '.join(FORMATS)}")
        return fmt
    name = label if isinstance(dest, (str, os.PathLike)) or hasattr(dest, "name") else ""
    suffix = Path(name).suffix.lower() if name and label != "<stdout>" else ""
    if not suffix:
        return "wav"
    if suffix not in SUFFIXES:
        raise AudioWriteError(
            f"{label}: cannot tell the audio format from the suffix {suffix!r}; use one of "
            f"{', '.join(SUFFIXES)} or pass format= (one of {', '.join(FORMATS)})"
        )
    return SUFFIXES[suffix]


def _resolve_subtype(fmt: str, subtype: Optional[str], label: str) -> Tuple[str, str]:
    if subtype is not None and subtype not in SUBTYPES:
        raise AudioWriteError(f"{label}: unsupported sample format {subtype!r}; accepted: {', '.join(SUBTYPES)}")
    if fmt in _LOSSY:
        return _LOSSY[fmt]
    sf_format, table, default = _LOSSLESS[fmt]
    chosen = default if subtype is None else subtype
    if chosen not in table:
        raise AudioWriteError(f"{label}: {fmt} cannot store {chosen!r} samples; accepted: {', '.join(table)}")
    return sf_format, table[chosen]


def _resolve_rate(fmt: str, sample_rate: int, output_rate: Optional[int], label: str) -> int:
    for name, value in (("sample_rate", sample_rate), ("output_rate", output_rate)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0):
            raise AudioWriteError(f"{label}: {name} must be a positive integer number of Hz, got {value!r}")
    rate = int(sample_rate if output_rate is None else output_rate)
    allowed = CODEC_RATES.get(fmt)
    if allowed is not None and rate not in allowed:
        raise AudioWriteError(
            f"{label}: {fmt} cannot be written at {rate} Hz; accepted rates: {', '.join(map(str, allowed))} "
            "(pass output_rate= to resample)"
        )
    return rate


def _prepare(wav: Union[torch.Tensor, np.ndarray], label: str) -> np.ndarray:
    """-> float32 (C, N) array, checked."""
    if isinstance(wav, torch.Tensor):
        wav = wav.detach().to("cpu", torch.float32).numpy()
    data = np.asarray(wav, dtype=np.float32)
    if data.ndim == 1:
        data = data[None, :]
    if data.ndim != 2 or not 1 <= data.shape[0] <= MAX_CHANNELS:
        raise AudioWriteError(
            f"{label}: audio to write must be (N,) or (channels, N) with at most {MAX_CHANNELS} channels, "
            f"got shape {tuple(np.shape(wav))}"
        )
    if data.shape[1] == 0:
        raise AudioWriteError(f"{label}: there are no samples to write")
    if not np.isfinite(data).all():
        raise NonFiniteAudioError(f"{label}: refusing to write audio containing NaN or infinity")
    return data


def _write_atomic(path: Path, encode: Callable[[BinaryIO], None]) -> None:
    if path.is_dir():
        raise AudioWriteError(f"{path}: is a folder; give a file name")
    if not path.parent.is_dir():
        raise AudioWriteError(f"{path}: the folder {path.parent} does not exist")
    tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.part"
    try:
        # os.open with mode 0o666 lets the umask decide the permissions, as for any new file.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as exc:
        raise AudioWriteError(f"{path}: cannot create a file in {path.parent} ({exc.strerror})") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            encode(fh)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, Exception) and not isinstance(exc, LuxTTSError):
            raise AudioWriteError(f"{path}: writing failed ({_describe(exc)})") from None
        raise


def _write_stream(stream: BinaryIO, encode: Callable[[BinaryIO], None], label: str) -> None:
    """Encode fully in memory first, so a failure writes nothing to the stream."""
    buf = io.BytesIO()
    try:
        encode(buf)
    except LuxTTSError:
        raise
    except Exception as exc:
        raise AudioWriteError(f"{label}: encoding failed ({_describe(exc)})") from None
    try:
        stream.write(buf.getvalue())
        if hasattr(stream, "flush"):
            stream.flush()
    except (OSError, ValueError, TypeError) as exc:
        raise AudioWriteError(f"{label}: writing failed ({_describe(exc)})") from None


def _describe(exc: BaseException) -> str:
    return str(exc).strip() or type(exc).__name__
