"""Speech recognition behind one interface: a voice prompt's transcript, and the words `luxtts eval` hears.

Backends, in the order ``backend=None`` ("auto") tries them: faster-whisper, transformers' Whisper (both need
their weights, downloaded on first use) and pocketsphinx, whose pip package ships an English model and so
works offline. A backend that is installed but cannot load its model (no network, no cached weights) is
skipped with a logged warning; which backend ran is logged at INFO. Install with ``pip install "luxtts[asr]"``.
Recognizers load on first use and are kept per (backend, model, device); a load that failed is not retried
in the same process.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from .errors import InvalidOptionError, TranscriptionUnavailableError

logger = logging.getLogger("luxtts")

ASR_SAMPLE_RATE = 16000
# Upstream LuxTTS uses whisper-base on a GPU and whisper-tiny on the CPU.
GPU_MODEL = "base"
CPU_MODEL = "tiny"
POCKETSPHINX_MODEL = "en-us"

BACKENDS = ("faster-whisper", "transformers", "pocketsphinx")
_MODULES = {"faster-whisper": "faster_whisper", "transformers": "transformers", "pocketsphinx": "pocketsphinx"}
_INSTALL = 'pip install "luxtts[asr]"'


@dataclass(frozen=True)
class Recognizer:
    """A loaded backend: ``recognizer(wav16k)`` -> the words heard in a mono 16 kHz float32 waveform (N,)."""

    backend: str
    model: str
    run: Callable[[np.ndarray], str]

    def __call__(self, wav16k: np.ndarray) -> str:
        return self.run(np.ascontiguousarray(wav16k, dtype=np.float32)).strip()

    @property
    def name(self) -> str:
        return f"{self.backend} ({self.model})"


_cache: Dict[Tuple[str, str, str], Recognizer] = {}
_failed: Dict[Tuple[str, str, str], str] = {}
_lock = threading.Lock()


def installed_backends() -> List[str]:
    """The installed backends in the order auto tries them (checked without importing any)."""
    return [name for name in BACKENDS if importlib.util.find_spec(_MODULES[name]) is not None]


def available_backend() -> Optional[str]:
    """The first installed backend ('faster-whisper', 'transformers', 'pocketsphinx'), or None."""
    names = installed_backends()
    return names[0] if names else None


def check_backend(backend: Optional[str]) -> Optional[str]:
    """None for "auto"; a known backend name as given; anything else is an InvalidOptionError."""
    if backend is None or backend == "auto":
        return None
    if backend not in BACKENDS:
        raise InvalidOptionError(
            f"unknown speech recognition backend {backend!r}; accepted: auto, {', '.join(BACKENDS)}"
        )
    return backend


def load_recognizer(backend: Optional[str] = None, device: str = "cpu", model: Optional[str] = None) -> Recognizer:
    """The recognizer for ``backend`` (None / "auto": the first installed one that loads).

    model: Whisper size or path for the Whisper backends (default: tiny on the CPU, base on a GPU); pocketsphinx
    always uses the English model its package ships.
    """
    wanted = check_backend(backend)
    if wanted is not None:
        if importlib.util.find_spec(_MODULES[wanted]) is None:
            raise TranscriptionUnavailableError(
                f"speech recognition backend {wanted!r} is not installed; install it with {_INSTALL}"
            )
        return _get(wanted, str(device), model)
    if available_backend() is None:
        raise TranscriptionUnavailableError(
            "no transcript was given for the voice prompt and no speech recognition backend is installed: "
            "pass the words spoken in the recording (text= in Python, --voice-text / --text on the command "
            f"line), or install one with: {_INSTALL} (pocketsphinx works offline)"
        )
    names = installed_backends()
    reasons = []
    for i, name in enumerate(names):
        try:
            return _get(name, str(device), model)
        except TranscriptionUnavailableError as e:
            reasons.append(str(e))
            if i + 1 < len(names):
                logger.warning("%s; falling back to %s", e, names[i + 1])
    raise TranscriptionUnavailableError("no speech recognition backend could load its model: " + "; ".join(reasons))


def transcribe(wav16k: np.ndarray, device: str = "cpu", model: Optional[str] = None,
               backend: Optional[str] = None) -> str:
    """Transcript of a mono 16 kHz float waveform (N,), by ``backend`` (None: auto, see the module doc)."""
    recognizer = load_recognizer(backend, device, model)
    text = recognizer(wav16k)
    logger.info("speech recognition by %s: %r", recognizer.name, text)
    if not text:
        raise TranscriptionUnavailableError(
            f"speech recognition ({recognizer.name}) heard no words in the voice prompt; "
            "pass its transcript with text= / --voice-text"
        )
    return text


def _model_name(backend: str, device: str, model: Optional[str]) -> str:
    if backend == "pocketsphinx":
        return POCKETSPHINX_MODEL
    if model:
        return str(model)
    return GPU_MODEL if device.split(":")[0] == "cuda" else CPU_MODEL


def _get(backend: str, device: str, model: Optional[str]) -> Recognizer:
    name = _model_name(backend, device, model)
    key = (backend, name, device)
    with _lock:
        if key in _cache:
            return _cache[key]
        if key in _failed:
            raise TranscriptionUnavailableError(_failed[key])
        try:
            run = _LOADERS[backend](name, device)
        except Exception as e:  # a missing download surfaces as any of OSError, ValueError, HTTP errors...
            reason = " ".join(str(e).split())[:300]
            _failed[key] = f"{backend} could not load model {name!r}: {type(e).__name__}: {reason}"
            raise TranscriptionUnavailableError(_failed[key]) from e
        _cache[key] = Recognizer(backend, name, run)
        logger.info("speech recognition: loaded %s (%s) on %s", backend, name, device)
        return _cache[key]


def _faster_whisper(size: str, device: str) -> Callable[[np.ndarray], str]:
    from faster_whisper import WhisperModel

    device_type = device.split(":")[0]
    fw_device = device_type if device_type in ("cpu", "cuda") else "cpu"
    model = WhisperModel(size, device=fw_device, compute_type="default")

    def run(wav: np.ndarray) -> str:
        segments, _info = model.transcribe(wav, beam_size=1)
        return " ".join(s.text.strip() for s in segments)

    return run


def _transformers(size: str, device: str) -> Callable[[np.ndarray], str]:
    from transformers import pipeline

    repo = size if "/" in size else f"openai/whisper-{size}"
    asr = pipeline("automatic-speech-recognition", model=repo, device=device)

    def run(wav: np.ndarray) -> str:
        return str(asr({"raw": wav, "sampling_rate": ASR_SAMPLE_RATE})["text"])

    return run


def _pocketsphinx(_name: str, _device: str) -> Callable[[np.ndarray], str]:
    from pocketsphinx import Decoder

    # The package's default configuration is its bundled US English acoustic model, dictionary and 3-gram LM.
    decoder = Decoder(samprate=ASR_SAMPLE_RATE, loglevel="FATAL")
    lock = threading.Lock()  # one decoder holds per-utterance state

    def run(wav: np.ndarray) -> str:
        pcm = (np.clip(wav, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
        with lock:
            decoder.start_utt()
            decoder.process_raw(pcm, full_utt=True)
            decoder.end_utt()
            hyp = decoder.hyp()
        words = hyp.hypstr.split() if hyp is not None else []
        # Fillers such as [NOISE] or <sil> are not words.
        return " ".join(w for w in words if not (w.startswith(("[", "<", "+")) and w.endswith(("]", ">", "+"))))

    return run


_LOADERS: Dict[str, Callable[[str, str], Callable[[np.ndarray], str]]] = {
    "faster-whisper": _faster_whisper,
    "transformers": _transformers,
    "pocketsphinx": _pocketsphinx,
}
