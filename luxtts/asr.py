"""Transcribe a voice prompt when no transcript is given: faster-whisper, else transformers' whisper.

Both are optional (``pip install "luxtts[asr]"``); with neither installed, :func:`transcribe` raises
TranscriptionUnavailableError. Models load on first use and are kept per (backend, model, device).
"""

from __future__ import annotations

import importlib.util
import threading
from typing import Callable, Dict, Optional, Tuple

import numpy as np

from .errors import TranscriptionUnavailableError

ASR_SAMPLE_RATE = 16000
# Upstream LuxTTS uses whisper-base on a GPU and whisper-tiny on the CPU.
GPU_MODEL = "base"
CPU_MODEL = "tiny"

Transcriber = Callable[[np.ndarray], str]

_cache: Dict[Tuple[str, str, str], Transcriber] = {}
_lock = threading.Lock()


def available_backend() -> Optional[str]:
    """'faster-whisper', 'transformers', or None (checked without importing either)."""
    if importlib.util.find_spec("faster_whisper") is not None:
        return "faster-whisper"
    if importlib.util.find_spec("transformers") is not None:
        return "transformers"
    return None


def transcribe(wav16k: np.ndarray, device: str = "cpu", model: Optional[str] = None) -> str:
    """Transcript of a mono 16 kHz float waveform (N,)."""
    backend = available_backend()
    if backend is None:
        raise TranscriptionUnavailableError(
            "no transcript was given for the voice prompt and no speech recognition backend is installed: "
            "pass the words spoken in the recording (text= in Python, --voice-text / --text on the command "
            'line), or install one with: pip install "luxtts[asr]"'
        )
    device_type = str(device).split(":")[0]
    size = model or (GPU_MODEL if device_type == "cuda" else CPU_MODEL)
    key = (backend, size, str(device))
    with _lock:
        if key not in _cache:
            _cache[key] = _load(backend, size, str(device))
        fn = _cache[key]
    text = fn(np.ascontiguousarray(wav16k, dtype=np.float32)).strip()
    if not text:
        raise TranscriptionUnavailableError(
            "speech recognition heard no words in the voice prompt; pass its transcript with text= / --voice-text"
        )
    return text


def _load(backend: str, size: str, device: str) -> Transcriber:
    if backend == "faster-whisper":
        return _faster_whisper(size, device)
    return _transformers(size, device)


def _faster_whisper(size: str, device: str) -> Transcriber:
    from faster_whisper import WhisperModel

    device_type = device.split(":")[0]
    fw_device = device_type if device_type in ("cpu", "cuda") else "cpu"
    model = WhisperModel(size, device=fw_device, compute_type="default")

    def run(wav: np.ndarray) -> str:
        segments, _info = model.transcribe(wav, beam_size=1)
        return " ".join(s.text.strip() for s in segments)

    return run


def _transformers(size: str, device: str) -> Transcriber:
    from transformers import pipeline

    asr = pipeline("automatic-speech-recognition", model=f"openai/whisper-{size}", device=device)

    def run(wav: np.ndarray) -> str:
        return str(asr({"raw": wav, "sampling_rate": ASR_SAMPLE_RATE})["text"])

    return run
