"""LuxTTS: text + a voice prompt -> speech. Owns devices, files, chunking, progress and timing.

The upstream methods (``LuxTTS(...)``, ``encode_prompt``, ``generate_speech``) keep their names, arguments
and return types; ``generate`` and ``stream`` add long-text handling and per-stage timings.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import torch

from . import longform
from .audio import (
    FEATURE_SCALE,
    load_audio,
    prompt_features,
    resample,
    restore_loudness,
    rms_normalize,
    validate_prompt,
)
from .devices import apply_threads, resolve_device, resolve_dtype
from .errors import EmptyTextError, InvalidOptionError, TextError, UnspeakableTextError
from .hub import DEFAULT_MODEL, ModelFiles, resolve_model
from .model.weight_source import release_free_memory
from .options import (
    LUXTTS_DEFAULTS,
    ZIPVOICE_DEFAULTS,
    ZIPVOICE_DISTILL_DEFAULTS,
    ModelDefaults,
    SynthesisOptions,
)
from .prompt import VoicePrompt, as_prompt, vocab_fingerprint

logger = logging.getLogger("luxtts")

PROMPT_SAMPLE_RATE = 24000
Progress = Callable[[int, int], None]
TextInput = Union[str, Sequence[int]]


@dataclass
class ChunkInfo:
    """One chunk of a generation: its token count, model frames and audio samples (after edge trimming)."""

    tokens: int
    frames: int
    samples: int


@dataclass
class SpeechResult:
    """audio: (N,) float32 on the CPU at ``sample_rate``; timings: seconds per stage (text, acoustic,
    vocoder, total); chunks: what each chunk contributed (joins overlap by ``crossfade_samples``)."""

    audio: torch.Tensor
    sample_rate: int
    timings: Dict[str, float] = field(default_factory=dict)
    chunks: List[ChunkInfo] = field(default_factory=list)
    crossfade_samples: int = 0

    @property
    def duration(self) -> float:
        return self.audio.shape[-1] / self.sample_rate

    @property
    def rtf(self) -> float:
        """Real-time factor: seconds of compute per second of audio."""
        return self.timings.get("total", 0.0) / max(self.duration, 1e-9)


class LuxTTS:
    """Zero-shot voice cloning TTS (LuxTTS / ZipVoice-Distill / ZipVoice checkpoints).

    ``LuxTTS(model_path, device="cuda", threads=4)`` is upstream's form: an unavailable cuda falls back to mps,
    then cpu, with a logged warning. ``LuxTTS.from_pretrained`` is the same with ``device="auto"``.
    """

    def __init__(self, model_path: Union[str, os.PathLike] = DEFAULT_MODEL, device: Union[str, torch.device] = "cuda",
                 threads: Optional[int] = 4, *, dtype: Union[None, str, torch.dtype] = None,
                 vocoder: Union[None, str, os.PathLike] = None, quantize: Optional[str] = None) -> None:
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype)
        linear_transform = _quantizer(quantize, self.device, self.dtype)
        self.quantize = quantize
        apply_threads(threads, self.device)
        self.files: ModelFiles = resolve_model(model_path, vocoder=vocoder)

        from .model import load_acoustic_model
        from .text import EmiliaTokenizer
        from .vocoder import load_vocoder

        self.tokenizer = EmiliaTokenizer(self.files.tokens)
        self.model = load_acoustic_model(self.files.checkpoint, self.files.config, self.files.tokens,
                                         device=self.device, dtype=self.dtype, linear_transform=linear_transform)
        # The vocoder stays in float32: its inverse STFT is not accurate in half precision.
        self.vocoder = load_vocoder(self.files.vocoder_config, self.files.vocoder_weights,
                                    device=self.device, dtype=torch.float32)
        self.defaults = defaults_for(self.files.layout, self.model.is_distill)
        self._vocab_sha = vocab_fingerprint(self.tokenizer.token_to_id)
        logger.info("loaded %s on %s (%s)", self.files.describe(), self.device, self.dtype)

    @classmethod
    def from_pretrained(cls, name_or_path: Union[str, os.PathLike] = DEFAULT_MODEL,
                        device: Union[str, torch.device] = "auto", dtype: Union[None, str, torch.dtype] = None,
                        threads: Optional[int] = None, *, vocoder: Union[None, str, os.PathLike] = None,
                        quantize: Optional[str] = None) -> "LuxTTS":
        """Load a model folder or Hugging Face repo id; ``device="auto"`` picks cuda, then mps, then cpu.

        ``quantize="int8"`` (CPU, float32 only) runs every large linear layer of the acoustic model as an int8
        GEMM, quantizing each layer as it is read so that the float32 model never sits in memory: about 1.9x
        faster and 350 MB smaller on a 2-core x86 CPU, at a mel-feature SNR of ~24 dB against float32 (README).
        """
        return cls(name_or_path, device=device, threads=threads, dtype=dtype, vocoder=vocoder, quantize=quantize)

    # ------------------------------------------------------------------------------------------ facts

    @property
    def sample_rate(self) -> int:
        """Rate of the audio ``generate_speech`` returns: 48000 for LuxTTS, 24000 for ZipVoice's Vocos."""
        return int(self.vocoder.sample_rate)

    @property
    def variant(self) -> str:
        if self.files.layout == "luxtts":
            return "LuxTTS (ZipVoice-Distill + 48 kHz Vocos)"
        return "ZipVoice-Distill" if self.model.is_distill else "ZipVoice"

    # ------------------------------------------------------------------------------------------ prompt

    def encode_prompt(self, audio: Any, duration: Optional[float] = 5, rms: float = 0.01,
                      text: Optional[str] = None) -> VoicePrompt:
        """Encode a reference recording once for any number of generations (see :func:`encode_voice`).

        rms: upstream's code defaults to 0.001 while its README recommends 0.01; 0.01 is the default here.
        """
        return encode_voice(audio, self.tokenizer, duration=duration, rms=rms, text=text, asr_device=str(self.device))

    def _usable_prompt(self, prompt: Any) -> VoicePrompt:
        prompt = as_prompt(prompt)
        if prompt.vocab_sha256 in (None, self._vocab_sha):
            return prompt
        if not prompt.transcript:
            raise InvalidOptionError(
                f"the voice prompt {prompt.source!r} was encoded for another model's token table and has no "
                "transcript to re-tokenize; encode it again with this model"
            )
        logger.debug("re-tokenizing the prompt transcript for this model's token table")
        return dataclasses.replace(prompt, tokens=transcript_tokens(self.tokenizer, prompt.transcript),
                                   vocab_sha256=self._vocab_sha)

    # ------------------------------------------------------------------------------------------ upstream API

    def generate_speech(self, text: TextInput, prompt: Any, num_steps: int = 4, guidance_scale: float = 3.0,
                        t_shift: float = 0.5, speed: float = 1.0, return_smooth: bool = False,
                        seed: Optional[int] = None, noise: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Speech for ``text`` in the prompt's voice: a float32 CPU tensor (1, N) at :attr:`sample_rate`.

        speed: 1.0 = normal; LuxTTS models multiply it by 1.3 before the model sees it, exactly as upstream.
        return_smooth: use only the vocoder's 24 kHz head (resampled to 48 kHz), which can sound smoother.
        seed: reproducible noise. noise: the initial state x0 (1, frames, 100) to reproduce a reference run;
        it implies one pass over the whole text. Long text is spoken in chunks (see :meth:`generate`).
        """
        options = SynthesisOptions(num_steps=num_steps, guidance_scale=guidance_scale, t_shift=t_shift,
                                   speed=speed, seed=seed)
        result = self.generate(text, prompt, options, smooth=return_smooth, noise=noise,
                               sample_rate=self.sample_rate)
        return result.audio[None]

    # ------------------------------------------------------------------------------------------ generation

    def generate(self, text: TextInput, prompt: Any, options: Optional[SynthesisOptions] = None, *,
                 num_steps: Optional[int] = None, guidance_scale: Optional[float] = None,
                 t_shift: Optional[float] = None, speed: Optional[float] = None, seed: Optional[int] = None,
                 noise: Optional[torch.Tensor] = None, smooth: bool = False, sample_rate: Optional[int] = None,
                 chunk_tokens: Optional[int] = longform.DEFAULT_CHUNK_TOKENS,
                 batch_frames: Optional[int] = None, first_chunk_tokens: Optional[int] = None,
                 crossfade_ms: float = longform.DEFAULT_CROSSFADE_MS, trim_joins: bool = True,
                 progress: Optional[Progress] = None) -> SpeechResult:
        """Speak ``text`` (any length) in the voice of ``prompt``; see :meth:`stream` for the arguments."""
        timings: Dict[str, float] = {}
        infos: List[ChunkInfo] = []
        pieces = list(self.stream(
            text, prompt, options, num_steps=num_steps, guidance_scale=guidance_scale, t_shift=t_shift,
            speed=speed, seed=seed, noise=noise, smooth=smooth, sample_rate=sample_rate,
            chunk_tokens=chunk_tokens, batch_frames=batch_frames, first_chunk_tokens=first_chunk_tokens,
            crossfade_ms=crossfade_ms,
            trim_joins=trim_joins, progress=progress, timings=timings, chunk_infos=infos,
        ))
        rate = self._output_rate(sample_rate)
        audio = torch.cat(pieces) if pieces else torch.zeros(0)
        return SpeechResult(audio, rate, timings, infos, int(round(crossfade_ms * rate / 1000.0)))

    def stream(self, text: TextInput, prompt: Any, options: Optional[SynthesisOptions] = None, *,
               num_steps: Optional[int] = None, guidance_scale: Optional[float] = None,
               t_shift: Optional[float] = None, speed: Optional[float] = None, seed: Optional[int] = None,
               noise: Optional[torch.Tensor] = None, smooth: bool = False, sample_rate: Optional[int] = None,
               chunk_tokens: Optional[int] = longform.DEFAULT_CHUNK_TOKENS,
               batch_frames: Optional[int] = None, first_chunk_tokens: Optional[int] = None,
               crossfade_ms: float = longform.DEFAULT_CROSSFADE_MS, trim_joins: bool = True,
               progress: Optional[Progress] = None, timings: Optional[Dict[str, float]] = None,
               chunk_infos: Optional[List[ChunkInfo]] = None) -> Iterator[torch.Tensor]:
        """Yield the audio (N_i,) float32 CPU tensors at the output rate as each batch of chunks is ready.

        text: a string, or token ids (spoken in one pass as given). options / keywords: SynthesisOptions
        fields (keywords win; None = the model's default). noise: x0 (1, frames, 100) for one pass.
        smooth: only the 24 kHz head of a 48 kHz vocoder. sample_rate: output rate (None = the vocoder's).
        chunk_tokens: most target tokens per pass, cut at punctuation then word gaps (None = no chunking;
        prompt + text beyond ~200 tokens is known to cause spurious pauses). first_chunk_tokens: cut the first
        chunk at most this long (the same way) so that the first audio comes sooner. batch_frames: budget of
        batch size x frames per model call (None: 4000 on a GPU, one chunk per call on a CPU).
        crossfade_ms: overlap at each join. trim_joins: cut silence at the joins (never at the outer edges).
        progress(done, total) is called after each batch.
        """
        if not (isinstance(crossfade_ms, (int, float)) and math.isfinite(crossfade_ms) and crossfade_ms >= 0):
            raise InvalidOptionError(f"crossfade_ms must be a finite number >= 0, got {crossfade_ms!r}")
        start = time.perf_counter()
        stats = timings if timings is not None else {}
        for key in ("text", "acoustic", "vocoder"):
            stats.setdefault(key, 0.0)
        opts = (options or SynthesisOptions()).replace(
            num_steps=num_steps, guidance_scale=guidance_scale, t_shift=t_shift, speed=speed, seed=seed,
        ).resolved(self.defaults)
        out_rate = self._output_rate(sample_rate)
        voice = self._usable_prompt(prompt)
        speed_eff = opts.speed * self.defaults.speed_factor

        t0 = time.perf_counter()
        token_chunks = self._token_chunks(text, None if noise is not None else chunk_tokens, first_chunk_tokens)
        chunks = longform.plan_chunks(token_chunks, voice.num_frames, len(voice.tokens), speed_eff)
        stats["text"] += time.perf_counter() - t0

        generator = None if opts.seed is None else torch.Generator().manual_seed(opts.seed)
        joiner = longform.Joiner(out_rate, crossfade_ms)
        done = 0
        if batch_frames is None:
            batch_frames = longform.default_batch_frames(self.device.type)
        for batch in longform.batches(chunks, batch_frames):
            t0 = time.perf_counter()
            feats, lens = self._acoustic(batch, voice, opts, speed_eff, noise, generator)
            t1 = time.perf_counter()
            wavs = [self._vocode(feats[i, : int(lens[i])], voice.rms, smooth, out_rate) for i in range(len(batch))]
            stats["acoustic"] += t1 - t0
            stats["vocoder"] += time.perf_counter() - t1
            del feats
            for chunk, wav, frames in zip(batch, wavs, lens.tolist(), strict=True):
                first, last = chunk.index == 0, chunk.index == len(chunks) - 1
                wav = longform.trim_joins(wav, out_rate, trim_joins and not first, trim_joins and not last)
                if chunk_infos is not None:
                    chunk_infos.append(ChunkInfo(len(chunk.tokens), int(frames), wav.shape[-1]))
                piece = joiner.push(wav)
                if piece.numel():
                    yield piece
            done += len(batch)
            if self.device.type == "cpu":
                release_free_memory()  # freed activations go back to the OS between batches: RSS stays flat
            if progress is not None:
                progress(done, len(chunks))
        tail = joiner.finish()
        stats["total"] = time.perf_counter() - start
        if tail.numel():
            yield tail

    def _output_rate(self, sample_rate: Optional[int]) -> int:
        if sample_rate is None:
            return self.sample_rate
        if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or not 8000 <= sample_rate <= 192000:
            raise InvalidOptionError(f"sample_rate must be an integer from 8000 to 192000 Hz, got {sample_rate!r}")
        return sample_rate

    def _token_chunks(self, text: TextInput, chunk_tokens: Optional[int],
                      first_chunk_tokens: Optional[int] = None) -> List[List[int]]:
        if not isinstance(text, str):
            return [self._check_ids(text)]
        if not text.strip():
            raise EmptyTextError(f"text is empty or only whitespace ({text[:20]!r}); give at least one word to speak")
        if chunk_tokens is not None and (isinstance(chunk_tokens, bool) or not isinstance(chunk_tokens, int)
                                         or chunk_tokens < 0):
            raise InvalidOptionError(f"chunk_tokens must be an integer >= 0 (0 or None: no chunking), got {chunk_tokens!r}")
        if not chunk_tokens:
            return [self.tokenizer.encode(text)]
        from .text import chunk_tokens as split_tokens

        if first_chunk_tokens is not None and (isinstance(first_chunk_tokens, bool)
                                               or not isinstance(first_chunk_tokens, int) or first_chunk_tokens < 0):
            raise InvalidOptionError(f"first_chunk_tokens must be an integer >= 0 (0 or None: off), got {first_chunk_tokens!r}")
        symbols = self.tokenizer.text_to_tokens(text)
        pieces = []
        if first_chunk_tokens and first_chunk_tokens < chunk_tokens and symbols:
            pieces = split_tokens(symbols, first_chunk_tokens)[:1]
            symbols = symbols[len(pieces[0]):]
        if symbols:
            pieces += split_tokens(symbols, chunk_tokens)
        ids = [c for c in (self.tokenizer.tokens_to_ids(p) for p in pieces) if c]
        if not ids:
            self.tokenizer.encode(text)  # raises the tokenizer's own UnspeakableTextError
            raise UnspeakableTextError(f"text {text[:60]!r} gives no token this model knows")  # pragma: no cover
        return ids

    def _check_ids(self, tokens: Sequence[int]) -> List[int]:
        try:
            ids = [int(t) for t in tokens]
        except (TypeError, ValueError):
            raise InvalidOptionError("text must be a string or a sequence of integer token ids") from None
        if not ids:
            raise EmptyTextError("the token id list is empty; give at least one token to speak")
        return ids

    def _acoustic(self, batch, voice: VoicePrompt, opts: SynthesisOptions, speed: float,
                  noise: Optional[torch.Tensor], generator) -> Tuple[torch.Tensor, torch.Tensor]:
        b = len(batch)
        feats = voice.features.to(self.device)[None].expand(b, -1, -1)
        if noise is None:
            noise = longform.batch_noise([c.total_frames for c in batch], feats.shape[-1], generator)
        return self.model.sample(
            tokens=[c.tokens for c in batch], prompt_tokens=[voice.tokens] * b, prompt_features=feats,
            prompt_features_lens=torch.full((b,), voice.num_frames, dtype=torch.int64, device=self.device),
            speed=speed, t_shift=opts.t_shift, guidance_scale=opts.guidance_scale, num_step=opts.num_steps,
            noise=noise,
        )

    @torch.inference_mode()
    def _vocode(self, features: torch.Tensor, prompt_rms: float, smooth: bool, out_rate: int) -> torch.Tensor:
        """features (T, 100) as the model emits them -> (N,) float32 CPU waveform at ``out_rate``."""
        mel = features.t()[None].float() / FEATURE_SCALE
        head = "24k" if smooth and self.vocoder.is_48k else None
        wav = self.vocoder.decode(mel, output=head)
        wav = wav.reshape(-1).clamp(-1, 1)
        wav = restore_loudness(wav, prompt_rms).cpu()
        rate = 24000 if head else self.sample_rate
        return resample(wav, rate, out_rate) if rate != out_rate else wav


# ---------------------------------------------------------------------------------------------- helpers


def encode_voice(audio: Any, tokenizer, *, duration: Optional[float] = 5, rms: float = 0.01,
                 text: Optional[str] = None, asr_device: str = "cpu") -> VoicePrompt:
    """Encode a reference recording with a model's tokenizer (no acoustic model needed).

    audio: a path, bytes, a binary file, or (samples, sample_rate). duration: seconds kept from the start
    (None = all). rms: loudness the prompt is raised to if it is quieter. text: the words spoken in the kept
    part; None runs speech recognition (needs ``luxtts[asr]``).
    """
    if not (isinstance(rms, (int, float)) and not isinstance(rms, bool) and math.isfinite(rms) and rms > 0):
        raise InvalidOptionError(f"rms must be a finite number > 0, got {rms!r}")
    if hasattr(audio, "read"):
        audio = audio.read()  # read once: speech recognition loads it a second time
    loaded = validate_prompt(load_audio(audio, PROMPT_SAMPLE_RATE, duration))
    wav, original_rms = rms_normalize(loaded.samples, float(rms))
    features = prompt_features(wav) * FEATURE_SCALE
    if text is None:
        text = transcribe_audio(audio, duration, asr_device)
        logger.info("prompt transcript (speech recognition): %s", text)
    return VoicePrompt(
        features=features, tokens=transcript_tokens(tokenizer, text), rms=original_rms, transcript=text,
        source=loaded.source, sample_rate=PROMPT_SAMPLE_RATE, duration=loaded.seconds, cropped=loaded.cropped,
        target_rms=float(rms), vocab_sha256=vocab_fingerprint(tokenizer.token_to_id),
    )


def transcribe_audio(audio: Any, duration: Optional[float] = None, device: str = "cpu") -> str:
    """What is said in ``audio`` (its first ``duration`` seconds), by the installed ASR backend."""
    from .asr import ASR_SAMPLE_RATE, transcribe

    wav16k = load_audio(audio, ASR_SAMPLE_RATE, duration).samples.numpy()
    return transcribe(wav16k, device=device)


def transcript_tokens(tokenizer, transcript: str) -> List[int]:
    try:
        return tokenizer.encode(transcript)
    except TextError as e:
        raise type(e)(f"voice prompt transcript: {e}") from None


def defaults_for(layout: str, distilled: bool) -> ModelDefaults:
    if layout == "luxtts":
        return LUXTTS_DEFAULTS
    return ZIPVOICE_DISTILL_DEFAULTS if distilled else ZIPVOICE_DEFAULTS


def _quantizer(quantize: Optional[str], device: torch.device, dtype: torch.dtype):
    """The loader's per-layer transform for ``quantize`` (None: keep float)."""
    from .runtime import check_quantize, int8_transform

    check_quantize(quantize)
    if quantize is None:
        return None
    if device.type != "cpu" or dtype != torch.float32:
        raise InvalidOptionError(
            f"quantize='int8' runs on the CPU in float32; got device={device.type!r}, dtype={dtype}. "
            "Use device='cpu' and no dtype, or drop quantize for half precision on a GPU."
        )
    return int8_transform()
