"""The vocoder as a composition: mel features, ConvNeXt backbone, 24 kHz head, and optionally LuxTTS's
upsampler + 48 kHz head joined to the resampled 24 kHz path by an FFT crossover."""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from ..audio.features import log_mel_spectrogram, mel_filterbank
from ..config import MelConfig, VocoderConfig
from ..errors import InvalidOptionError
from .crossover import crossover_merge, sinc_resample
from .heads import ISTFTHead
from .istft import ISTFT_MODES
from .upsampler import UpSampler
from .vocos import VocosBackbone

BASE_RATE = 24000
HIGH_RATE = 48000
DEFAULT_CROSSOVER_HZ = 12000.0  # what LuxTTS sets after loading (LinaCodec's class default is 4000)
OUTPUTS = ("48k", "24k")


class MelFeatures(nn.Module):
    """Log-mel features with the checkpoint's own STFT window and filterbank (used for copy-synthesis)."""

    def __init__(self, cfg: MelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.register_buffer("window", torch.hann_window(cfg.n_fft))
        self.register_buffer("filterbank", mel_filterbank(cfg.sample_rate, cfg.n_fft, cfg.n_mels).clone())

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """audio (B, N) at cfg.sample_rate -> log-mel (B, n_mels, frames)."""
        return log_mel_spectrogram(audio, self.cfg, window=self.window, filterbank=self.filterbank)


class Vocoder(nn.Module):
    """Vocos mel vocoder: plain 24 kHz, or LuxTTS's dual-head 48 kHz model when the config has an upsampler."""

    def __init__(self, cfg: VocoderConfig, istft_mode: str = "fft") -> None:
        super().__init__()
        self.config = cfg
        self.feature_extractor = MelFeatures(cfg.feature_extractor)
        self.backbone = VocosBackbone(cfg.backbone)
        self.head = ISTFTHead(cfg.head, istft_mode)
        self.upsampler = UpSampler(cfg.upsampler) if cfg.is_48k else None
        self.head_48k = ISTFTHead(cfg.head_48k, istft_mode) if cfg.is_48k else None
        self._crossover_hz = DEFAULT_CROSSOVER_HZ

    # ------------------------------------------------------------------ properties

    @property
    def is_48k(self) -> bool:
        return self.upsampler is not None

    @property
    def sample_rate(self) -> int:
        """Rate of ``decode``'s default output: 48000 for the dual-head model, 24000 for plain Vocos."""
        return HIGH_RATE if self.is_48k else BASE_RATE

    @property
    def crossover_hz(self) -> float:
        """Frequency where the merged output switches from the 24 kHz path to the 48 kHz head."""
        return self._crossover_hz

    @crossover_hz.setter
    def crossover_hz(self, value: float) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= HIGH_RATE / 2:
            raise InvalidOptionError(f"crossover_hz must be a number in (0, {HIGH_RATE // 2}], got {value!r}")
        self._crossover_hz = float(value)

    def set_istft_mode(self, mode: str) -> None:
        """Pick the inverse STFT: "fft" (torch.fft, the default) or "matmul" (a conv_transpose1d, ONNX-exportable)."""
        if mode not in ISTFT_MODES:
            raise InvalidOptionError(f"istft mode must be one of {list(ISTFT_MODES)}, got {mode!r}")
        for head in (self.head, self.head_48k):
            if head is not None:
                head.istft.set_mode(mode)

    # ------------------------------------------------------------------ the paths

    def head24k(self, mel: torch.Tensor, lengths: Optional[torch.Tensor] = None) -> torch.Tensor:
        """mel (B, n_mels, T) -> the 24 kHz head's waveform (B, N24)."""
        return self.head(self.backbone(self._cast(mel), lengths), lengths)

    def head48k(self, mel: torch.Tensor, lengths: Optional[torch.Tensor] = None) -> torch.Tensor:
        """mel (B, n_mels, T) -> backbone -> upsampler -> the 48 kHz head's waveform (B, N48)."""
        self._need_48k("head48k")
        return self._high(self.backbone(self._cast(mel), lengths), lengths)

    def _high(self, hidden: torch.Tensor, lengths: Optional[torch.Tensor]) -> torch.Tensor:
        up = self.upsampler(hidden.transpose(1, 2), lengths).transpose(1, 2)
        up_lengths = None if lengths is None else self.upsampler.num_frames(lengths)
        return self.head_48k(up, up_lengths)

    def decode(self, mel: torch.Tensor, lengths: Optional[torch.Tensor] = None,
               output: Optional[str] = None) -> torch.Tensor:
        """mel (B, n_mels, T) natural-log mel -> float32 waveform (B, N).

        output: "48k" (dual-head model only: the merged 48 kHz signal), "24k" (the 24 kHz head alone, what
        LuxTTS's ``return_smooth`` gives before resampling), or None for ``sample_rate``'s output.
        lengths (B,): valid mel frames per item. Each item then equals decoding it alone, and the result is
        zero-padded: item i has ``num_samples(lengths, output)[i]`` samples, N is the longest.
        """
        output = self._check_output(output)
        hidden = self.backbone(self._cast(mel), lengths)
        low = self.head(hidden, lengths)
        if output == "24k":
            return low
        high = self._high(hidden, lengths)
        low = sinc_resample(low, BASE_RATE, HIGH_RATE)
        n = min(low.shape[-1], high.shape[-1])
        low, high = low[..., :n], high[..., :n]
        if lengths is None:
            return crossover_merge(high, low, HIGH_RATE, self._crossover_hz)
        return self._merge_each(high, low, self.num_samples(lengths, output))

    def _merge_each(self, high: torch.Tensor, low: torch.Tensor, sizes: torch.Tensor) -> torch.Tensor:
        out = torch.zeros_like(high)
        for i, size in enumerate(sizes.tolist()):
            out[i, :size] = crossover_merge(high[i, :size], low[i, :size], HIGH_RATE, self._crossover_hz)
        return out

    def num_samples(self, lengths: torch.Tensor, output: Optional[str] = None) -> torch.Tensor:
        """Samples ``decode`` gives for ``lengths`` (B,) mel frames -> LongTensor (B,)."""
        output = self._check_output(output)
        low = self.head.num_samples(lengths)
        if output == "24k":
            return low
        high = self.head_48k.num_samples(self.upsampler.num_frames(lengths))
        return torch.minimum(low * (HIGH_RATE // BASE_RATE), high)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """mel (B, n_mels, T) -> waveform (B, N) at ``sample_rate``."""
        return self.decode(mel)

    def copy_synthesis(self, audio: torch.Tensor, output: Optional[str] = None) -> torch.Tensor:
        """audio (B, N) at 24 kHz -> mel with the checkpoint's feature extractor -> ``decode``."""
        return self.decode(self.feature_extractor(audio), output=output)

    # ------------------------------------------------------------------ helpers

    def _cast(self, mel: torch.Tensor) -> torch.Tensor:
        if mel.dim() != 3 or mel.shape[1] != self.config.backbone.input_channels:
            raise InvalidOptionError(
                f"mel must be (B, {self.config.backbone.input_channels}, T), got {tuple(mel.shape)}"
            )
        weight = self.backbone.embed.weight
        return mel.to(device=weight.device, dtype=weight.dtype)

    def _check_output(self, output: Optional[str]) -> str:
        if output is None:
            return "48k" if self.is_48k else "24k"
        if output not in OUTPUTS:
            raise InvalidOptionError(f"output must be one of {list(OUTPUTS)} or None, got {output!r}")
        if output == "48k":
            self._need_48k("output='48k'")
        return output

    def _need_48k(self, what: str) -> None:
        if not self.is_48k:
            raise InvalidOptionError(f"{what} needs the dual-head 48 kHz vocoder; this one is plain 24 kHz Vocos")
