"""Speaker embeddings behind one interface, for SIM: the cosine similarity of prompt and output voices.

Backends: "resemblyzer" (default; its pip package ships its weights, so it works offline) and "wavlm"
(transformers' WavLM x-vector verification model, ``microsoft/wavlm-base-plus-sv`` unless another is named;
its weights download on first use). Scores from different backends are not comparable: the ZipVoice paper's
SIM-o uses a fine-tuned WavLM-large ECAPA model, so compare numbers within one backend only.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
import warnings
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Tuple

import numpy as np

from ..errors import InvalidOptionError, SpeakerModelUnavailableError

logger = logging.getLogger("luxtts")

SPEAKER_SAMPLE_RATE = 16000
BACKENDS = ("resemblyzer", "wavlm")
DEFAULT_BACKEND = "resemblyzer"
WAVLM_MODEL = "microsoft/wavlm-base-plus-sv"
_MODULES = {"resemblyzer": "resemblyzer", "wavlm": "transformers"}
MIN_VOICED_SAMPLES = SPEAKER_SAMPLE_RATE // 4


@dataclass(frozen=True)
class SpeakerEncoder:
    """``encoder.embed(wav16k)`` -> a unit-norm embedding (D,) of a mono 16 kHz float32 waveform (N,)."""

    backend: str
    model: str
    embed_fn: Callable[[np.ndarray], np.ndarray]

    def embed(self, wav16k: np.ndarray) -> np.ndarray:
        wav = np.ascontiguousarray(wav16k, dtype=np.float32).reshape(-1)
        if wav.size == 0 or not np.any(wav):
            raise InvalidOptionError("cannot embed a speaker from empty or silent audio")
        e = np.asarray(self.embed_fn(wav), dtype=np.float64).reshape(-1)
        return e / max(float(np.linalg.norm(e)), 1e-12)

    def similarity(self, a16k: np.ndarray, b16k: np.ndarray) -> float:
        """Cosine similarity of two recordings' embeddings, in [-1, 1]."""
        return cosine(self.embed(a16k), self.embed(b16k))

    @property
    def name(self) -> str:
        return f"{self.backend} ({self.model})"


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a = np.asarray(a, dtype=np.float64).reshape(-1)
    b = np.asarray(b, dtype=np.float64).reshape(-1)
    return float(a @ b / max(float(np.linalg.norm(a) * np.linalg.norm(b)), 1e-12))


_cache: Dict[Tuple[str, str, str], SpeakerEncoder] = {}
_lock = threading.Lock()


def load_speaker_encoder(backend: Optional[str] = None, device: str = "cpu",
                         model: Optional[str] = None) -> SpeakerEncoder:
    """The speaker encoder ``backend`` (None: resemblyzer) on ``device``; loaded once per process."""
    backend = backend or DEFAULT_BACKEND
    if backend not in BACKENDS:
        raise InvalidOptionError(f"unknown speaker-embedding backend {backend!r}; accepted: {', '.join(BACKENDS)}")
    if importlib.util.find_spec(_MODULES[backend]) is None:
        extra = "luxtts[eval]" if backend == "resemblyzer" else "transformers"
        raise SpeakerModelUnavailableError(
            f"speaker-embedding backend {backend!r} needs the {_MODULES[backend]} package: pip install \"{extra}\""
        )
    name = model or ("resemblyzer" if backend == "resemblyzer" else WAVLM_MODEL)
    key = (backend, name, str(device))
    with _lock:
        if key not in _cache:
            try:
                fn = _resemblyzer(str(device)) if backend == "resemblyzer" else _wavlm(name, str(device))
            except Exception as e:
                raise SpeakerModelUnavailableError(
                    f"speaker-embedding backend {backend!r} could not load {name!r}: {type(e).__name__}: "
                    f"{' '.join(str(e).split())[:300]}"
                ) from e
            _cache[key] = SpeakerEncoder(backend, name, fn)
            logger.info("speaker embeddings: loaded %s on %s", _cache[key].name, device)
        return _cache[key]


def _resemblyzer(device: str) -> Callable[[np.ndarray], np.ndarray]:
    with warnings.catch_warnings():
        # Its dependencies (webrtcvad's pkg_resources, scipy.ndimage.morphology) warn about deprecations at import.
        warnings.simplefilter("ignore")
        from resemblyzer import VoiceEncoder, preprocess_wav
        from resemblyzer.audio import normalize_volume
        from resemblyzer.hparams import audio_norm_target_dBFS

    encoder = VoiceEncoder(device=device.split(":")[0] if device != "mps" else "cpu", verbose=False)

    def embed(wav: np.ndarray) -> np.ndarray:
        # Input is already 16 kHz (its rate), so no source_sr: resemblyzer then only levels the volume and
        # shortens long silences with its voice activity detector.
        speech = preprocess_wav(wav)
        if len(speech) < MIN_VOICED_SAMPLES:
            # The detector heard (almost) no voice. An empty clip would embed as one fixed vector, giving every
            # such output the same score; the whole clip is a truer, usually low, measure.
            logger.debug("resemblyzer: no voice detected in %.2f s of audio; embedding all of it", len(wav) / 16000)
            speech = normalize_volume(wav, audio_norm_target_dBFS, increase_only=True)
        return encoder.embed_utterance(speech)

    return embed


def _wavlm(name: str, device: str) -> Callable[[np.ndarray], np.ndarray]:
    import torch
    from transformers import AutoFeatureExtractor, WavLMForXVector

    extractor = AutoFeatureExtractor.from_pretrained(name)
    net = WavLMForXVector.from_pretrained(name).to(device).eval()

    @torch.inference_mode()
    def embed(wav: np.ndarray) -> np.ndarray:
        inputs = extractor(wav, sampling_rate=SPEAKER_SAMPLE_RATE, return_tensors="pt").to(device)
        return net(**inputs).embeddings[0].float().cpu().numpy()

    return embed
