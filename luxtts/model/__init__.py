"""Acoustic model: ZipVoice / ZipVoice-Distill (text tokens + voice prompt -> log-mel features)."""

from .loading import convert_checkpoint, is_distilled, load_acoustic_model, read_token_table
from .sampler import euler_sample, time_grid
from .zipvoice import ZipVoiceModel

__all__ = [
    "ZipVoiceModel",
    "load_acoustic_model",
    "convert_checkpoint",
    "is_distilled",
    "read_token_table",
    "euler_sample",
    "time_grid",
]
