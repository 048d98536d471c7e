"""luxtts: fast zero-shot voice-cloning TTS (LuxTTS / ZipVoice-Distill with a 48 kHz Vocos vocoder).

    from luxtts import LuxTTS
    tts = LuxTTS.from_pretrained()
    voice = tts.encode_prompt("reference.wav", text="What the reference says.")
    wav = tts.generate_speech("Hello there!", voice)   # (1, N) float tensor at 48 kHz
    tts.generate("Hello there!", voice).save("hello.wav")   # SpeechResult: audio (N,), sample_rate, timings

Heavy modules (torch, the model) load on first use of a name, so ``import luxtts`` stays cheap.
"""

from __future__ import annotations

import os as _os

# oneDNN (and ideep above it) keep a compiled kernel per matrix shape, ~0.6 MB each, up to 1024 of each by
# default. Long texts bring new frame counts with every chunk, so float32 long form grew by ~14 MB a chunk
# (2026-11-25). One utterance uses well under 128 shapes, so this bound costs no recompilation within one.
_os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "128")
_os.environ.setdefault("LRU_CACHE_CAPACITY", "128")
# libgomp's threads spin 300,000 times at a barrier before they sleep. Where the cores are shared, the spinning
# thread holds the core its late partner needs: with one core taken by another process, W1 int8 one pass took
# 10.2-13.8 s at that default against 10.1-11.1 s at 10,000 (2026-12-04, docs/speed.md). libgomp reads it when it
# loads, with torch: it applies when luxtts is imported first, as the CLI and the server do.
_os.environ.setdefault("GOMP_SPINCOUNT", "10000")

import importlib
from typing import TYPE_CHECKING, Any

from .errors import (
    AudioDecodeError,
    AudioError,
    AudioFileNotFoundError,
    AudioWriteError,
    CheckpointError,
    ConfigError,
    EmptyAudioError,
    EmptyTextError,
    InvalidOptionError,
    LuxTTSError,
    ModelNotFoundError,
    NativeKernelError,
    NonFiniteAudioError,
    OutputExistsError,
    OutputIsInputError,
    PromptError,
    PromptTooShortError,
    ResumeError,
    SilentAudioError,
    TextError,
    TextTypeError,
    TranscriptionUnavailableError,
    UnspeakableTextError,
    VoiceFileNotFoundError,
    VoiceNotFoundError,
    VoiceWriteError,
)
from .inputs import Tokens
from .options import SynthesisOptions

__version__ = "0.1.0"

_LAZY = {
    "LuxTTS": "luxtts.pipeline",
    "SpeechResult": "luxtts.pipeline",
    "ChunkInfo": "luxtts.pipeline",
    "VoicePrompt": "luxtts.prompt",
}

if TYPE_CHECKING:
    from .pipeline import ChunkInfo, LuxTTS, SpeechResult
    from .prompt import VoicePrompt

__all__ = [
    "LuxTTS",
    "SpeechResult",
    "ChunkInfo",
    "VoicePrompt",
    "SynthesisOptions",
    "Tokens",
    "LuxTTSError",
    "InvalidOptionError",
    "PromptError",
    "ConfigError",
    "CheckpointError",
    "ModelNotFoundError",
    "NativeKernelError",
    "AudioError",
    "AudioFileNotFoundError",
    "AudioDecodeError",
    "EmptyAudioError",
    "SilentAudioError",
    "PromptTooShortError",
    "NonFiniteAudioError",
    "AudioWriteError",
    "TextError",
    "TextTypeError",
    "EmptyTextError",
    "UnspeakableTextError",
    "TranscriptionUnavailableError",
    "VoiceNotFoundError",
    "VoiceFileNotFoundError",
    "VoiceWriteError",
    "OutputExistsError",
    "OutputIsInputError",
    "ResumeError",
    "__version__",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'luxtts' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list:
    return sorted(set(globals()) | set(__all__))
