"""Audio in and out of the server: streaming encoders for every response format, and upload decoding.

pcm and wav are written here (16-bit little-endian mono). A wav sent whole carries its true RIFF and data
sizes; a streamed one carries 0xFFFFFFFF, as streaming writers do, since its length is not known when its header
goes out (see :func:`sent_whole`). mp3 (LAME), opus (in Ogg), aac (ADTS) and flac are encoded with PyAV, whose wheels
carry ffmpeg's libraries, so nothing outside Python is needed. Every format but flac streams. Uploads are read by luxtts's own loader
(libsndfile: wav, flac, ogg, mp3); containers it cannot read (m4a/mp4, webm, aac) are decoded by PyAV first.
"""

from __future__ import annotations

import io
import struct
from typing import List, Optional, Tuple

import numpy as np

from ..errors import AudioDecodeError

CONTENT_TYPES = {
    "mp3": "audio/mpeg",
    "opus": "audio/ogg; codecs=opus",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "audio/pcm",
}
# format -> (PyAV container, codec, bit rate)
_AV = {"mp3": ("mp3", "libmp3lame", 64000), "opus": ("ogg", "libopus", 48000), "aac": ("adts", "aac", 64000),
       "flac": ("flac", "flac", None)}
_STREAMED_SIZE = 0xFFFFFFFF
# flac's header holds the total length and an MD5 that are known only at the end, and libsndfile (soundfile)
# cannot read a flac whose header leaves them out: a flac response is sent whole, when it is complete.
WHOLE_FILE_FORMATS = ("flac",)


def to_int16(samples: np.ndarray) -> np.ndarray:
    """float in [-1, 1] -> int16 by rounding x * 32767 (clipped): the one conversion every format uses."""
    return np.round(np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2")


class Encoder:
    """push(float32 (N,)) -> bytes ready to send; finish() -> the rest. One per response."""

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate

    def push(self, samples: np.ndarray) -> bytes:
        raise NotImplementedError

    def finish(self) -> bytes:
        return b""


class PCMEncoder(Encoder):
    def push(self, samples: np.ndarray) -> bytes:
        return to_int16(samples).tobytes()


class WavEncoder(PCMEncoder):
    def __init__(self, sample_rate: int) -> None:
        super().__init__(sample_rate)
        self._header_sent = False

    def push(self, samples: np.ndarray) -> bytes:
        head = b"" if self._header_sent else wav_header(self.sample_rate, _STREAMED_SIZE)
        self._header_sent = True
        return head + super().push(samples)

    def finish(self) -> bytes:
        return b"" if self._header_sent else wav_header(self.sample_rate, 0)


class SizedWavEncoder(PCMEncoder):
    """A wav sent whole: nothing until the end, then the header with the true sizes and all the samples."""

    def __init__(self, sample_rate: int) -> None:
        super().__init__(sample_rate)
        self._parts: List[bytes] = []

    def push(self, samples: np.ndarray) -> bytes:
        self._parts.append(super().push(samples))
        return b""

    def finish(self) -> bytes:
        data = b"".join(self._parts)
        self._parts = []
        return wav_header(self.sample_rate, len(data)) + data


def sent_whole(fmt: str, streamed: bool) -> bool:
    """Whether a response in ``fmt`` is made whole before it is sent (with its Content-Length): always flac, and
    wav unless the client streams; the other formats are sent as they are made either way."""
    return fmt in WHOLE_FILE_FORMATS or (fmt == "wav" and not streamed)


def wav_header(sample_rate: int, data_bytes: int) -> bytes:
    riff = _STREAMED_SIZE if data_bytes == _STREAMED_SIZE else 36 + data_bytes
    return (b"RIFF" + struct.pack("<I", riff) + b"WAVE" + b"fmt "
            + struct.pack("<IHHIIHH", 16, 1, 1, sample_rate, sample_rate * 2, 2, 16)
            + b"data" + struct.pack("<I", data_bytes))


class _Sink:
    """A write-only, non-seekable file for PyAV: muxers then write streamable output, collected here."""

    def __init__(self) -> None:
        self._parts: List[bytes] = []

    def write(self, data) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def drain(self) -> bytes:
        out, self._parts = b"".join(self._parts), []
        return out


class _Buffer(io.BytesIO):
    """A seekable sink that hands out nothing until the end, so the muxer can finish its header in place."""

    def __init__(self) -> None:
        super().__init__()
        self.done = False

    def drain(self) -> bytes:
        return self.getvalue() if self.done else b""


class AVEncoder(Encoder):
    def __init__(self, fmt: str, sample_rate: int) -> None:
        import av

        super().__init__(sample_rate)
        container, codec, bit_rate = _AV[fmt]
        self._sink = _Buffer() if fmt in WHOLE_FILE_FORMATS else _Sink()
        self._out = av.open(self._sink, mode="w", format=container)
        self._stream = self._out.add_stream(codec, rate=sample_rate, layout="mono")
        if bit_rate:
            self._stream.bit_rate = bit_rate
        self._fifo = av.AudioFifo()
        self._resampler = None
        self._closed = False

    def _encode(self, frame) -> None:
        for packet in self._stream.encode(frame):
            self._out.mux(packet)

    def _frames(self, final: bool):
        import av

        ctx = self._stream.codec_context
        if self._resampler is None:
            self._resampler = av.AudioResampler(format=ctx.format.name, layout="mono", rate=self.sample_rate)
        size = ctx.frame_size or 1024
        while self._fifo.samples >= size or (final and self._fifo.samples):
            frame = self._fifo.read(min(size, self._fifo.samples))
            for converted in self._resampler.resample(frame):
                yield converted

    def push(self, samples: np.ndarray) -> bytes:
        import av

        if samples.size:
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples, dtype=np.float32)[None], format="flt",
                                               layout="mono")
            frame.sample_rate = self.sample_rate
            frame.pts = None
            self._fifo.write(frame)
            for converted in self._frames(final=False):
                self._encode(converted)
        return self._sink.drain()

    def finish(self) -> bytes:
        if not self._closed:
            self._closed = True
            for converted in self._frames(final=True):
                self._encode(converted)
            self._encode(None)
            self._out.close()
            if isinstance(self._sink, _Buffer):
                self._sink.done = True
        return self._sink.drain()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            try:
                self._out.close()
            except Exception:  # noqa: BLE001 - abandoning a half-written stream after a disconnect
                pass


def make_encoder(fmt: str, sample_rate: int, streamed: bool = True) -> Encoder:
    """streamed=False: a wav with its true sizes, sent whole (see :func:`sent_whole`)."""
    if fmt == "pcm":
        return PCMEncoder(sample_rate)
    if fmt == "wav":
        return WavEncoder(sample_rate) if streamed else SizedWavEncoder(sample_rate)
    return AVEncoder(fmt, sample_rate)


# ---------------------------------------------------------------------------------------------- uploads


def probe_seconds(data: bytes) -> Optional[float]:
    """Duration of an upload from its header (no decoding); None if the header does not say."""
    import soundfile as sf

    try:
        info = sf.info(io.BytesIO(data))
        if info.frames > 0 and info.samplerate > 0 and info.frames < 0x7FFFFFF0:
            return info.frames / info.samplerate
    except Exception:  # noqa: BLE001 - not a libsndfile format: ask PyAV below
        pass
    try:
        import av

        with av.open(io.BytesIO(data), mode="r") as container:
            if container.duration:
                return container.duration / 1_000_000
    except Exception:  # noqa: BLE001 - undecodable uploads are reported when they are decoded
        return None
    return None


class UploadTooLong(Exception):
    """An upload holds more than the accepted seconds of audio (found while decoding it)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"more than {seconds:g} s of audio")
        self.seconds = seconds


def readable_upload(data: bytes, name: str, max_seconds: float):
    """bytes -> what luxtts's loader takes: the bytes when libsndfile reads them, else (samples, rate).
    Raises UploadTooLong when the audio holds more than ``max_seconds``, decoding (at most that much) when the
    header does not state the length."""
    import soundfile as sf

    try:
        info = sf.info(io.BytesIO(data))
    except Exception:  # noqa: BLE001 - m4a, webm and the like: decode with PyAV
        return _decode_av(data, name, max_seconds)
    if not _states_length(info):
        _check_decoded_length(data, name, max_seconds)
    return data


def _states_length(info) -> bool:
    # a FLAC streamed with total samples 0 (unknown) reads as SF_COUNT_MAX frames
    return 0 < info.frames < 0x7FFFFFF0 and info.samplerate > 0


def _check_decoded_length(data: bytes, name: str, max_seconds: float) -> None:
    import soundfile as sf

    try:
        with sf.SoundFile(io.BytesIO(data)) as f:
            limit = max_seconds * f.samplerate
            block = max(1, f.samplerate)  # one second at a time: memory stays small
            total = 0
            while True:
                try:
                    got = len(f.read(frames=block, dtype="float32", always_2d=True))
                except sf.LibsndfileError:
                    if total:  # libsndfile seeks past the end of a FLAC of unknown length: that is its end
                        return
                    raise
                total += got
                if total > limit:
                    raise UploadTooLong(max_seconds)
                if got < block:
                    return
    except UploadTooLong:
        raise
    except Exception as exc:  # noqa: BLE001 - libsndfile raises several types for corrupt input
        raise AudioDecodeError(f"{name}: cannot decode as audio ({type(exc).__name__}: {exc})") from None


def _decode_av(data: bytes, name: str, max_seconds: float) -> Tuple[np.ndarray, int]:
    import av

    pieces: List[np.ndarray] = []
    rate = 0
    total = 0
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.audio:
                raise AudioDecodeError(f"{name}: the file has no audio stream")
            stream = container.streams.audio[0]
            resampler = av.AudioResampler(format="flt", layout="mono")
            for frame in container.decode(stream):
                for mono in resampler.resample(frame):
                    rate = mono.sample_rate
                    arr = mono.to_ndarray().reshape(-1)
                    pieces.append(arr)
                    total += arr.size
                    if total > max_seconds * rate:  # a browser's webm has no duration in its header
                        raise UploadTooLong(max_seconds)
    except (AudioDecodeError, UploadTooLong):
        raise
    except Exception as exc:  # noqa: BLE001 - PyAV raises many types for corrupt input
        raise AudioDecodeError(f"{name}: cannot decode as audio ({type(exc).__name__}: {exc})") from None
    if not pieces:
        raise AudioDecodeError(f"{name}: the file holds no audio samples")
    return np.concatenate(pieces), rate
