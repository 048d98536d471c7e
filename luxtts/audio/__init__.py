"""Audio in and out: load/resample a prompt, loudness, log-mel features, trimming, cross-fades, writing."""

from .edit import crossfade_concat, speech_bounds, trim_silence
from .features import FEATURE_SCALE, log_mel_spectrogram, num_frames, prompt_features
from .io import LoadedAudio, load_audio, validate_prompt
from .loudness import restore_loudness, rms, rms_normalize
from .resample import resample, resampled_length
from .write import write_audio

__all__ = [
    "FEATURE_SCALE",
    "LoadedAudio",
    "crossfade_concat",
    "load_audio",
    "log_mel_spectrogram",
    "num_frames",
    "prompt_features",
    "resample",
    "resampled_length",
    "restore_loudness",
    "rms",
    "rms_normalize",
    "speech_bounds",
    "trim_silence",
    "validate_prompt",
    "write_audio",
]
