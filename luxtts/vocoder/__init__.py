"""Mel -> waveform: Vocos (24 kHz) and LuxTTS's dual-head 48 kHz Vocos."""

from .crossover import crossover_merge, sinc_resample
from .istft import ISTFT
from .loading import build_vocoder, load_vocoder
from .model import Vocoder

__all__ = ["ISTFT", "Vocoder", "build_vocoder", "crossover_merge", "load_vocoder", "sinc_resample"]
