"""A real server for tests: uvicorn on 127.0.0.1, a free port, in a background thread of the test process."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import Iterator

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveURL(str):
    """The base URL of a live test server, carrying the server's ServerState (it runs in this process)."""

    def __new__(cls, url: str, state):
        self = super().__new__(cls, url)
        self.state = state
        return self


@contextlib.contextmanager
def live_server(settings, tts=None, ready_timeout: float = 120.0, wait_ready: bool = True) -> Iterator[str]:
    """Serve ``create_app(settings, tts)`` and yield its base URL once /ready says so (or, with
    ``wait_ready=False``, once it answers at all); stop it afterwards."""
    import uvicorn

    from luxtts.server.app import create_app
    from luxtts.server.connections import uvicorn_config

    app = create_app(settings, tts)
    # the same protocol and connection rules as `luxtts serve`
    server = uvicorn.Server(uvicorn_config(app, settings.connection_limits, host="127.0.0.1", port=settings.port,
                                           log_level="warning", timeout_graceful_shutdown=30))
    thread = threading.Thread(target=server.run, name="luxtts-test-server", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{settings.port}"
    deadline = time.monotonic() + ready_timeout
    while True:
        try:
            if httpx.get(url + "/ready", timeout=5).status_code == 200 or not wait_ready:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or not thread.is_alive():
            server.should_exit = True
            raise RuntimeError(f"the test server at {url} did not become ready")
        time.sleep(0.05)
    try:
        yield LiveURL(url, app.state.luxtts)
    finally:
        server.should_exit = True
        thread.join(60)


class _Unseekable:
    """Where a recorder streams to: the muxer cannot go back to write the duration (as a browser's webm)."""

    def __init__(self) -> None:
        self.parts = []

    def write(self, data) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def getvalue(self) -> bytes:
        return b"".join(self.parts)


def encode_with_av(samples, rate: int, container: str, codec: str, streamed: bool = False) -> bytes:
    """float32 mono samples -> a file in ``container`` (e.g. "mp4"/"aac", "webm"/"libopus") made by PyAV;
    ``streamed``: written front to back with no duration in its header."""
    import io

    import av
    import numpy as np

    buf = _Unseekable() if streamed else io.BytesIO()
    with av.open(buf, mode="w", format=container) as out:
        stream = out.add_stream(codec, rate=rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.asarray(samples, dtype=np.float32)[None], format="flt", layout="mono")
        frame.sample_rate = rate
        resampler = av.AudioResampler(format=stream.codec_context.format.name, layout="mono", rate=rate)
        fifo = av.AudioFifo()
        for converted in resampler.resample(frame):
            fifo.write(converted)
        size = stream.codec_context.frame_size or 1024
        while fifo.samples:
            chunk = fifo.read(min(size, fifo.samples))
            for packet in stream.encode(chunk):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


def decode_audio(data: bytes, fmt: str, rate: int):
    """Response bytes -> float32 samples at ``rate``, by a standard decoder: libsndfile for wav/flac, ffmpeg
    (PyAV) for the rest, numpy for raw pcm. Opus decoders always give 48 kHz: that is resampled back here."""
    import io

    import av
    import numpy as np
    import soundfile as sf

    if fmt == "pcm":
        return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
    if fmt in ("wav", "flac"):
        samples, got = sf.read(io.BytesIO(data), dtype="float32")
        assert got == rate
        return samples
    pieces = []
    resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
    with av.open(io.BytesIO(data), mode="r") as container:
        for frame in container.decode(audio=0):
            assert frame.sample_rate == (48000 if fmt == "opus" else rate)
            pieces += [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
    pieces += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    return np.concatenate(pieces)


def metric(text: str, name: str) -> float:
    """The value of an unlabelled metric in Prometheus text (0 if absent)."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def voice_form(name: str, transcript: str) -> dict:
    from golden_model import prompt_wav

    return {"data": {"name": name, "transcript": transcript},
            "files": {"audio_sample": ("voice.wav", prompt_wav().read_bytes(), "audio/wav")}}
