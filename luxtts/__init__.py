"""luxtts: fast zero-shot voice-cloning TTS (LuxTTS / ZipVoice-Distill with a 48 kHz Vocos vocoder).

    from luxtts import LuxTTS
    tts = LuxTTS.from_pretrained()
    voice = tts.encode_prompt("reference.wav", text="What the reference says.")
    wav = tts.generate_speech("Hello there!", voice)   # (1, N) float tensor at 48 kHz
    tts.generate("Hello there!", voice).save("hello.wav")   # SpeechResult: audio (N,), sample_rate, timings

Heavy modules (torch, the model) load on first use of a name, so ``import luxtts`` stays cheap.
"""

from __future__ import annotations

from . import process_env as _process_env

# Cache capacities for oneDNN and ideep, libgomp's spin count: see luxtts.process_env. They must be in the
# environment before torch's first oneDNN call and before libgomp loads, which importing luxtts first ensures.
_process_env.apply_defaults()

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
