"""LuxTTS: text + a voice prompt -> speech. Owns devices, files, chunking, progress and timing.

The upstream methods (``LuxTTS(...)``, ``encode_prompt``, ``generate_speech``) keep their names, arguments
and return types; ``generate`` and ``stream`` add long-text handling and per-stage timings.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Union

import torch

from . import batching, longform, process_env
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
from .errors import (
    AudioWriteError,
    EmptyTextError,
    InvalidOptionError,
    OutputExistsError,
    PromptError,
    TextError,
    TextTypeError,
    UnspeakableTextError,
    brief,
)
from .hub import DEFAULT_MODEL, ModelFiles, resolve_model
from .longform import ChunkInfo
from .options import (
    LUXTTS_DEFAULTS,
    ZIPVOICE_DEFAULTS,
    ZIPVOICE_DISTILL_DEFAULTS,
    ModelDefaults,
    SynthesisOptions,
)
from .inputs import TextInput, Tokens, as_flag, as_float, as_int, as_rate, check_text
from .prompt import VoicePrompt, as_prompt, vocab_fingerprint
from .voices import named_prompt

logger = logging.getLogger("luxtts")

PROMPT_SAMPLE_RATE = 24000
FRAME_SECONDS = 256 / 24000  # one model frame: the vocoder's hop at the features' 24 kHz
# One pass over more than this would need gigabytes of activations; it only happens with a tiny speed or
# chunking turned off on a long text, and is refused before any work with a message saying which.
MAX_CHUNK_SECONDS = 600.0
MAX_CROSSFADE_MS = 1000.0
Progress = Callable[[int, int], None]
# Prompts as generation takes them: see as_prompt (VoicePrompt, saved voice name or file, upstream dict).
PromptInput = Union[VoicePrompt, str, os.PathLike, Dict[str, Any]]


@dataclass
class SpeechResult:
    """audio: (N,) float32 on the CPU at ``sample_rate`` (``generate_speech`` returns the same samples as (1, N),
    upstream's shape); timings: seconds per stage (text, acoustic, vocoder, total); chunks: what each chunk
    contributed (joins overlap by ``crossfade_samples``)."""

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

    def __repr__(self) -> str:
        return (f"SpeechResult({self.duration:.2f} s at {self.sample_rate} Hz, {len(self.chunks)} chunk(s), "
                f"rtf={self.rtf:.3f})")

    def save(self, path: Union[str, os.PathLike], *, overwrite: bool = False, format: Optional[str] = None,
             subtype: Optional[str] = None) -> Path:
        """Write the audio to ``path`` and return it; the format comes from the suffix (.wav, .flac, .ogg,
        .opus, .mp3) unless ``format`` is given. The file is written to a temporary name and renamed, so a
        failure leaves nothing; an existing file raises OutputExistsError unless ``overwrite=True``.
        ``subtype``: "float", "pcm16" or "pcm24" for wav/flac (see :func:`luxtts.audio.write_audio`)."""
        from .audio import write_audio
        from .prompt import _as_path

        from .audio.write import SUFFIXES

        target = _as_path("path", path)
        overwrite = as_flag("overwrite", overwrite)
        implied = SUFFIXES.get(target.suffix.lower())
        if format is not None and implied is not None and str(format).lower().lstrip(".") != implied:
            raise AudioWriteError(f"{target}: format {brief(format)} contradicts the suffix {target.suffix!r} "
                                  f"({implied}); change one of them")
        if not overwrite and (target.exists() or target.is_symlink()):
            raise OutputExistsError(f"{target} exists; pass overwrite=True to replace it")
        write_audio(target, self.audio, self.sample_rate, format=format, subtype=subtype)
        return target


class LuxTTS:
    """Zero-shot voice cloning TTS (LuxTTS / ZipVoice-Distill / ZipVoice checkpoints).

    ``LuxTTS(model_path, device="cuda", threads=4)`` is upstream's form: an unavailable cuda falls back to mps,
    then cpu, with a logged warning. On the CPU, ``threads`` (default 4, as upstream) calls
    ``torch.set_num_threads``, which changes the thread count of the whole process, every other torch user
    included; pass ``threads=None`` to leave it alone. ``LuxTTS.from_pretrained`` picks the device with
    ``device="auto"`` and leaves the process's threads alone unless ``threads`` is given.

    Prompts (the ``prompt`` argument of generate / stream / generate_speech): a :class:`VoicePrompt` from
    :meth:`encode_prompt`, the name of a saved voice (``luxtts voice add``), the path of a saved voice file
    (``.safetensors``), or upstream's prompt dict. Audio is not a prompt: encode it first.
    Text: a ``str``, or :class:`luxtts.Tokens` for token ids spoken as given (bytes are refused: decode them).
    Every error for a bad argument, file or environment is a :class:`luxtts.LuxTTSError`.
    """

    def __init__(self, model_path: Union[str, os.PathLike] = DEFAULT_MODEL, device: Union[str, torch.device] = "cuda",
                 threads: Optional[int] = 4, *, dtype: Union[None, str, torch.dtype] = None,
                 vocoder: Union[None, str, os.PathLike] = None, quantize: Optional[str] = None) -> None:
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype)
        linear_transform = _quantizer(quantize, self.device, self.dtype)
        attention_dtype = None
        vocoder_transform = None
        if linear_transform is not None:
            from .runtime import int8_attention_dtype

            # before this process's first oneDNN primitive, where it is first to load (luxtts.process_env)
            process_env.prefer_primitive_cache(process_env.INT8_PRIMITIVE_CACHE)

            attention_dtype = int8_attention_dtype()  # a bad $LUXTTS_INT8_ATTENTION is refused before anything loads
        self.quantize = quantize
        apply_threads(threads, self.device)
        if self.device.type == "cpu":
            from .runtime import native

            native.kernels()  # built (or found cached) now, not in the first request; a bad $LUXTTS_NATIVE fails here
        self.files: ModelFiles = resolve_model(model_path, vocoder=vocoder)
        if quantize == "int8":
            vocoder_transform = _vocoder_int8_transform()
        elif self.device.type == "cpu":
            from .runtime.quantize import DIRECT_WEIGHT_PATHS  # read by the model itself: kept plain

            lowered = process_env.primitive_cache_lowered()
            if lowered is not None:
                logger.warning(
                    "oneDNN's primitive cache holds %d primitives in this process, as an int8 model loaded earlier "
                    "asked; this %s model's linears need more and will be rebuilt often (W1 float32 ~25%% slower "
                    "at 16). Load float models before int8 ones, or set ONEDNN_PRIMITIVE_CACHE_CAPACITY=%d "
                    "before the process starts.", lowered, self.dtype, process_env.DEFAULT_PRIMITIVE_CACHE)

            linear_transform = _float_packer(self.dtype, model_reads=DIRECT_WEIGHT_PATHS)
            vocoder_transform = _float_packer(torch.float32)

        from .model import load_acoustic_model
        from .text import EmiliaTokenizer
        from .vocoder import load_vocoder

        self.tokenizer = EmiliaTokenizer(self.files.tokens)
        self.model = load_acoustic_model(self.files.checkpoint, self.files.config, self.files.tokens,
                                         device=self.device, dtype=self.dtype, linear_transform=linear_transform)
        # The vocoder stays in float32: its inverse STFT is not accurate in half precision.
        self.vocoder = load_vocoder(self.files.vocoder_config, self.files.vocoder_weights,
                                    device=self.device, dtype=torch.float32,
                                    linear_transform=vocoder_transform)
        if quantize == "int8":
            from .runtime import set_attention_dtype

            set_attention_dtype(self.model, attention_dtype)
            _bfloat16_vocoder_floats(self.vocoder)
        self.defaults = defaults_for(self.files.layout, self.model.is_distill)
        self._vocab_sha = vocab_fingerprint(self.tokenizer.token_to_id)
        logger.info("loaded %s on %s (%s)", self.files.describe(), self.device, self.dtype)

    @classmethod
    def from_pretrained(cls, name_or_path: Union[str, os.PathLike] = DEFAULT_MODEL,
                        device: Union[str, torch.device] = "auto", dtype: Union[None, str, torch.dtype] = None,
                        threads: Optional[int] = None, *, vocoder: Union[None, str, os.PathLike] = None,
                        quantize: Optional[str] = None) -> "LuxTTS":
        """Load a model folder or Hugging Face repo id; ``device="auto"`` picks cuda, then mps, then cpu.

        threads: None (default) leaves torch's process-wide thread count as it is; an integer sets it with
        ``torch.set_num_threads`` for the whole process (CPU only).
        ``quantize="int8"`` (CPU, float32 only) runs every large linear layer of the acoustic model as an int8
        GEMM, quantizing each layer as it is read so that the float32 model never sits in memory; docs/speed.md
        gives the measured speed, memory and fidelity.
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
        """Encode a reference recording once for any number of generations; returns a :class:`VoicePrompt`.

        audio: any of
          - a path (str or os.PathLike) to wav, flac, ogg/vorbis, ogg/opus or mp3 (whatever libsndfile reads);
          - the bytes of such a file, or a file object opened in binary mode (``open(p, "rb")``, BytesIO);
          - a tuple ``(samples, sample_rate)``: samples a numpy array or torch tensor, float (in [-1, 1]),
            int16 or int32, shaped (N,) or 2-D with channels on the short axis (stereo is averaged to mono);
            sample_rate an integer (numpy integers and integral floats such as 44100.0 are accepted).
            Gradio's ``(sample_rate, samples)`` order is detected and refused with a hint.
        It is resampled to 24 kHz. At least 1 s of non-silent audio is needed.
        duration: seconds kept from the start (None = all). rms: loudness a quieter recording is raised to
        (upstream's code defaults to 0.001 while its README recommends 0.01; 0.01 is the default here).
        text: what is said in the kept part (a str); None runs speech recognition (needs ``luxtts[asr]``).
        """
        return encode_voice(audio, self.tokenizer, duration=duration, rms=rms, text=text, asr_device=str(self.device))

    def _usable_prompt(self, prompt: Any) -> VoicePrompt:
        prompt = as_prompt(prompt, named=named_prompt)  # a bare name is the voice library's to resolve
        cfg = self.model.config
        if prompt.vocab_sha256 in (None, self._vocab_sha):
            return prompt.check(cfg.feat_dim, cfg.vocab_size)
        if not prompt.transcript:
            raise PromptError(
                f"the voice prompt {prompt.source!r} was encoded for another model's token table and has no "
                "transcript to re-tokenize; encode it again with this model"
            )
        logger.debug("re-tokenizing the prompt transcript for this model's token table")
        prompt = dataclasses.replace(prompt, tokens=transcript_tokens(self.tokenizer, prompt.transcript),
                                     vocab_sha256=self._vocab_sha)
        return prompt.check(cfg.feat_dim, cfg.vocab_size)

    # ------------------------------------------------------------------------------------------ upstream API

    def generate_speech(self, text: TextInput, prompt: PromptInput, num_steps: Optional[int] = None,
                        guidance_scale: Optional[float] = None, t_shift: Optional[float] = None,
                        speed: float = 1.0, return_smooth: bool = False, seed: Optional[int] = None,
                        noise: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Speech for ``text`` in the prompt's voice: a float32 CPU tensor of shape (1, N) at :attr:`sample_rate`
        (upstream's shape; :meth:`generate` gives the same samples as (N,) in a :class:`SpeechResult`).

        num_steps, guidance_scale, t_shift: None = the model's defaults (LuxTTS 4 / 3.0 / 0.5, ZipVoice-Distill
        8 / 3.0 / 0.5, ZipVoice 16 / 1.0 / 0.5), as :meth:`generate`.
        speed: 1.0 = normal; LuxTTS models multiply it by 1.3 before the model sees it, exactly as upstream.
        return_smooth: use only the vocoder's 24 kHz head (resampled to 48 kHz), which can sound smoother.
        seed: reproducible noise. noise: the initial state x0 (1, frames, 100) to reproduce a reference run;
        it implies one pass over the whole text. Long text is spoken in chunks (see :meth:`generate`).
        """
        options = SynthesisOptions(num_steps=num_steps, guidance_scale=guidance_scale, t_shift=t_shift,
                                   speed=speed, seed=seed)
        result = self.generate(text, prompt, options, smooth=as_flag("return_smooth", return_smooth), noise=noise,
                               sample_rate=self.sample_rate)
        return result.audio[None]

    # ------------------------------------------------------------------------------------------ generation

    def generate(self, text: TextInput, prompt: PromptInput, options: Optional[SynthesisOptions] = None, *,
                 num_steps: Optional[int] = None, guidance_scale: Optional[float] = None,
                 t_shift: Optional[float] = None, speed: Optional[float] = None, seed: Optional[int] = None,
                 noise: Optional[torch.Tensor] = None, smooth: bool = False, sample_rate: Optional[int] = None,
                 chunk_tokens: Optional[int] = longform.DEFAULT_CHUNK_TOKENS,
                 chunk_policy: str = longform.WHOLE_FILE_POLICY, batch_frames: Optional[int] = None,
                 crossfade_ms: float = longform.DEFAULT_CROSSFADE_MS, trim_joins: bool = True,
                 progress: Optional[Progress] = None) -> SpeechResult:
        """Speak ``text`` (any length) in the voice of ``prompt``; returns a :class:`SpeechResult` whose
        ``audio`` is (N,) float32 on the CPU at ``result.sample_rate`` (48000 for LuxTTS unless ``sample_rate``
        says otherwise). See :meth:`stream` for the arguments; ``result.save(path)`` writes a file.

        chunk_policy defaults to "fewest" here: the whole file is wanted, so the fewest passes are fastest.
        """
        timings: Dict[str, float] = {}
        infos: List[ChunkInfo] = []
        pieces = list(self.stream(
            text, prompt, options, num_steps=num_steps, guidance_scale=guidance_scale, t_shift=t_shift,
            speed=speed, seed=seed, noise=noise, smooth=smooth, sample_rate=sample_rate,
            chunk_tokens=chunk_tokens, chunk_policy=chunk_policy, batch_frames=batch_frames,
            crossfade_ms=crossfade_ms,
            trim_joins=trim_joins, progress=progress, timings=timings, chunk_infos=infos,
        ))
        rate = self._output_rate(sample_rate)
        audio = torch.cat(pieces) if pieces else torch.zeros(0)
        return SpeechResult(audio, rate, timings, infos, int(round(float(crossfade_ms) * rate / 1000.0)))

    def stream(self, text: TextInput, prompt: PromptInput, options: Optional[SynthesisOptions] = None, *,
               num_steps: Optional[int] = None, guidance_scale: Optional[float] = None,
               t_shift: Optional[float] = None, speed: Optional[float] = None, seed: Optional[int] = None,
               noise: Optional[torch.Tensor] = None, smooth: bool = False, sample_rate: Optional[int] = None,
               chunk_tokens: Optional[int] = longform.DEFAULT_CHUNK_TOKENS,
               chunk_policy: str = longform.STREAMING_POLICY, batch_frames: Optional[int] = None,
               crossfade_ms: float = longform.DEFAULT_CROSSFADE_MS, trim_joins: bool = True,
               progress: Optional[Progress] = None, timings: Optional[Dict[str, float]] = None,
               chunk_infos: Optional[List[ChunkInfo]] = None, start_chunk: int = 0,
               joiner: Optional[longform.Joiner] = None) -> Iterator[torch.Tensor]:
        """Yield the audio as (N_i,) float32 CPU tensors at the output rate, one piece per chunk of the text.

        Every argument is checked when ``stream`` is called (errors are raised here, not at the first
        ``next()``); the text is tokenized and cut into chunks then too. Piece i is chunk i's audio, its start
        cross-faded with the end of chunk i-1; the last ``crossfade_ms`` of a chunk go out with the next piece,
        and the last piece includes its own tail, so concatenating the pieces gives ``generate``'s audio.

        text: a str, or :class:`luxtts.Tokens` (ids spoken in one pass as given); bytes are refused.
        prompt: a VoicePrompt, a saved voice name, a saved voice file (.safetensors) or upstream's prompt dict.
        options: SynthesisOptions (or a dict of its fields); the keywords num_steps, guidance_scale, t_shift,
        speed, seed override it (None = the model's default). noise: x0 tensor (1, frames, 100) for one pass.
        smooth: only the 24 kHz head of a 48 kHz vocoder. sample_rate: output rate in Hz (None = the vocoder's).
        chunk_tokens: most target tokens per pass (default 100), in the fewest balanced chunks cut at
        punctuation, else word gaps. None (or 0) = upstream's single pass, which risks spurious mid-phrase
        pauses once prompt + text pass ~200 tokens. chunk_policy: "first_clause" (default here) speaks a
        short first chunk (up to the first clause) when the text needs chunking anyway, for sooner first
        audio at the cost of one more pass; "fewest" (generate's default) the fewest passes. batch_frames: budget of
        batch size x frames per model call (None: 4000 on a GPU, one chunk per call on a CPU).
        crossfade_ms: overlap at each join. trim_joins: cut silence at the joins (never at the outer edges).
        progress(done, total): a callable, called after each batch with the chunks done and their total, once
        that batch's audio has been yielded.
        start_chunk / joiner (resuming an interrupted job, as ``luxtts speak --resume`` does): skip the first
        ``start_chunk`` chunks, still drawing their seeded noise so that later chunks get the same noise, and
        join onto ``joiner`` (a :class:`longform.Joiner` restored with the audio it held back). Pass your own
        ``joiner`` to read :attr:`longform.Joiner.held` at each ``progress`` call.
        """
        if batch_frames is None:
            batch_frames = longform.default_batch_frames(self.device.type)
        batch_frames = as_int("batch_frames", batch_frames, 1)
        generation = self.plan(
            text, prompt, options, num_steps=num_steps, guidance_scale=guidance_scale, t_shift=t_shift, speed=speed,
            seed=seed, noise=noise, smooth=smooth, sample_rate=sample_rate, chunk_tokens=chunk_tokens,
            chunk_policy=chunk_policy, crossfade_ms=crossfade_ms, trim_joins=trim_joins, progress=progress,
            timings=timings, chunk_infos=chunk_infos, start_chunk=start_chunk, joiner=joiner,
        )
        return batching.stream(self, generation, batch_frames)

    def plan(self, text: TextInput, prompt: PromptInput, options: Optional[SynthesisOptions] = None, *,
             num_steps: Optional[int] = None, guidance_scale: Optional[float] = None,
             t_shift: Optional[float] = None, speed: Optional[float] = None, seed: Optional[int] = None,
             noise: Optional[torch.Tensor] = None, smooth: bool = False, sample_rate: Optional[int] = None,
             chunk_tokens: Optional[int] = longform.DEFAULT_CHUNK_TOKENS,
             chunk_policy: str = longform.STREAMING_POLICY,
             crossfade_ms: float = longform.DEFAULT_CROSSFADE_MS, trim_joins: bool = True,
             progress: Optional[Progress] = None, timings: Optional[Dict[str, float]] = None,
             chunk_infos: Optional[List[ChunkInfo]] = None, start_chunk: int = 0,
             joiner: Optional[longform.Joiner] = None) -> "batching.Generation":
        """Check everything and cut the text into chunks, as :meth:`stream` does, without generating: returns a
        :class:`luxtts.batching.Generation` that :func:`luxtts.batching.run_batch` advances, alone or in one model
        call with the chunks of other generations (the server batches requests so). Arguments as :meth:`stream`.
        """
        start = time.perf_counter()
        crossfade_ms = as_float("crossfade_ms", crossfade_ms, 0.0, strict=False)
        if crossfade_ms > MAX_CROSSFADE_MS:
            raise InvalidOptionError(f"crossfade_ms must be from 0 to {MAX_CROSSFADE_MS:g}, got {crossfade_ms!r}")
        smooth = as_flag("smooth", smooth)
        trim_joins = as_flag("trim_joins", trim_joins)
        if progress is not None and not callable(progress):
            raise InvalidOptionError(f"progress must be a callable progress(done, total) or None, got {brief(progress)}")
        if timings is not None and not isinstance(timings, dict):
            raise InvalidOptionError(f"timings must be a dict (filled with seconds per stage) or None, got {brief(timings)}")
        if chunk_infos is not None and not isinstance(chunk_infos, list):
            raise InvalidOptionError(f"chunk_infos must be a list (filled with ChunkInfo) or None, got {brief(chunk_infos)}")
        opts = SynthesisOptions.coerce(options).replace(
            num_steps=num_steps, guidance_scale=guidance_scale, t_shift=t_shift, speed=speed, seed=seed,
        ).resolved(self.defaults)
        out_rate = self._output_rate(sample_rate)
        chunk_tokens = as_int("chunk_tokens", chunk_tokens, 0, none_ok=True)
        text = check_text(text)
        voice = self._usable_prompt(prompt)
        speed_eff = opts.speed * self.defaults.speed_factor
        if noise is not None:
            noise = self._check_noise(noise)

        stats = timings if timings is not None else {}
        for key in ("text", "acoustic", "vocoder"):
            stats.setdefault(key, 0.0)
        t0 = time.perf_counter()
        token_chunks = self._token_chunks(text, None if noise is not None else chunk_tokens, chunk_policy)
        chunks = longform.plan_chunks(token_chunks, voice.num_frames, len(voice.tokens), speed_eff)
        stats["text"] += time.perf_counter() - t0
        longest = max(c.total_frames for c in chunks) * FRAME_SECONDS
        if longest > MAX_CHUNK_SECONDS:
            raise InvalidOptionError(
                f"one pass would be {longest:.0f} s of audio (over {MAX_CHUNK_SECONDS:g} s): speed {opts.speed:g} is "
                "too low or chunking is off (chunk_tokens) for this much text"
            )
        if noise is not None and noise.shape[1] != chunks[0].total_frames:
            raise InvalidOptionError(f"noise must have shape (1, {chunks[0].total_frames}, {noise.shape[2]}) for this "
                                     f"text, prompt and speed, got {tuple(noise.shape)}")
        if isinstance(start_chunk, bool) or not isinstance(start_chunk, int) or not 0 <= start_chunk <= len(chunks):
            raise InvalidOptionError(f"start_chunk must be an integer from 0 to {len(chunks)}, got {start_chunk!r}")
        if joiner is not None and not isinstance(joiner, longform.Joiner):
            raise InvalidOptionError(f"joiner must be a luxtts.longform.Joiner or None, got {brief(joiner)}")
        if joiner is None:
            joiner = longform.Joiner(out_rate, crossfade_ms)
        return batching.Generation(self, chunks, voice, opts, speed_eff, noise, smooth, out_rate, joiner, trim_joins,
                                   progress, stats, chunk_infos, start, start_chunk)

    def _check_noise(self, noise: object) -> torch.Tensor:
        feat_dim = self.model.config.feat_dim
        if not isinstance(noise, torch.Tensor) or noise.dim() != 3 or noise.shape[0] != 1 \
                or noise.shape[2] != feat_dim or not noise.is_floating_point():
            got = tuple(noise.shape) if isinstance(noise, torch.Tensor) else type(noise).__name__
            raise InvalidOptionError(f"noise must be None or a float tensor (1, frames, {feat_dim}), got {got}")
        if not bool(torch.isfinite(noise).all()):
            raise InvalidOptionError("noise contains NaN or infinity")
        return noise

    def _output_rate(self, sample_rate: Optional[int]) -> int:
        if sample_rate is None:
            return self.sample_rate
        return as_rate("sample_rate", sample_rate, 8000, 192000)

    def _token_chunks(self, text: TextInput, chunk_tokens: Optional[int], policy: str) -> List[List[int]]:
        if isinstance(text, Tokens):
            return [self._check_ids(text)]
        if not text.strip():
            raise EmptyTextError(f"text is empty or only whitespace ({text[:20]!r}); give at least one word to speak")
        if chunk_tokens is not None and (isinstance(chunk_tokens, bool) or not isinstance(chunk_tokens, int)
                                         or chunk_tokens < 0):
            raise InvalidOptionError(f"chunk_tokens must be an integer >= 0 (0 or None: no chunking), got {chunk_tokens!r}")
        from .text.split import POLICIES

        if policy not in POLICIES:
            raise InvalidOptionError(f"chunk_policy must be one of {list(POLICIES)}, got {policy!r}")
        if not chunk_tokens:
            return [self.tokenizer.encode(text)]
        from .text import chunk_tokens as split_tokens

        # Tokens the model does not know are dropped first, so that the cap counts what the model sees.
        known = [t for t in self.tokenizer.text_to_tokens(text) if t in self.tokenizer.token_to_id]
        ids = [c for c in (self.tokenizer.tokens_to_ids(p) for p in split_tokens(known, chunk_tokens, policy)) if c]
        if not ids:  # not tokenizer.encode again: that would repeat its warning about dropped characters
            raise UnspeakableTextError(
                f"text {brief(text)} gives no token this model knows; it needs {self.tokenizer.speakable}"
            )
        return ids

    def _check_ids(self, tokens: Tokens) -> List[int]:
        vocab = self.model.config.vocab_size
        bad = [t for t in tokens.ids if not 0 <= t < vocab]
        if bad:
            raise InvalidOptionError(f"Tokens: ids {brief(bad)} are outside this model's token table (0..{vocab - 1})")
        return list(tokens.ids)

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

    audio: a path, bytes, a binary file, or (samples, sample_rate) (see :meth:`LuxTTS.encode_prompt`).
    duration: seconds kept from the start (None = all). rms: loudness the prompt is raised to if it is quieter.
    text: the words spoken in the kept part; None runs speech recognition (needs ``luxtts[asr]``).
    """
    rms = as_float("rms", rms, 0.0, strict=True)
    if text is not None and not isinstance(text, str):
        hint = ": decode it first" if isinstance(text, (bytes, bytearray, memoryview)) else ""
        raise TextTypeError(f"text (what the recording says) must be a str or None, got {type(text).__name__}{hint}")
    if isinstance(audio, VoicePrompt):
        raise InvalidOptionError("audio is already an encoded VoicePrompt: pass it to generate directly")
    if hasattr(audio, "read"):
        if isinstance(audio, io.TextIOBase):
            raise InvalidOptionError("audio: the file object is open in text mode; open audio with open(path, 'rb')")
        audio = audio.read()  # read once: speech recognition loads it a second time
        if isinstance(audio, str):
            raise InvalidOptionError("audio: the file object gave text, not bytes; open audio with open(path, 'rb')")
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


def _int8_vocoder(vocoder) -> None:
    """The vocoder's backbone linears in int8 too: 50 of its 60 MB of float32 weights, for a waveform within
    57 dB SNR of float32's (full-size random weights, W1; 62 dB on the golden vocoder). The heads stay float:
    their outputs are log-magnitudes and phases, which the inverse STFT turns into audio without any damping;
    their weights, and the upsampler's, are kept in bfloat16 (49.6 dB against the golden float32 waveform).
    Loading does the same with :func:`_vocoder_int8_transform`, layer by layer."""
    from .weight_source import release_free_memory, replace_linears

    replace_linears(vocoder, _vocoder_int8_transform())
    _bfloat16_vocoder_floats(vocoder)
    release_free_memory()  # the float32 weights just dropped


def _bfloat16_vocoder_floats(vocoder) -> None:
    """The vocoder's other large weights (upsampler, heads' linears, input convolution: 3.0 M at the published
    size) kept in bfloat16 and widened for each call: 6 MB less. The merged waveform stays within 49.4 dB of
    the one with float32 weights (49.7 dB on the golden vocoder; full-size random weights, 895 frames,
    2026-12-07), and the int8 vocoder as a whole within MIN_VOCODER_SNR_DB of float32 (tests)."""
    from .runtime.precision import store_weights_in_bfloat16

    store_weights_in_bfloat16(vocoder)


def _vocoder_int8_transform():
    """load_vocoder's ``linear_transform`` for :func:`_int8_vocoder`'s layers: the backbone's linears."""
    from .runtime import int8_transform

    transform = int8_transform()
    prefix = "backbone."

    def backbone_only(name: str, linear):
        return transform(name[len(prefix):], linear) if name.startswith(prefix) else linear

    return backbone_only


def _float_packer(dtype: torch.dtype, model_reads: tuple = ()):
    """The loaders' per-layer transform for float weights on the CPU: oneDNN's blocked layout made once
    (:mod:`luxtts.runtime.prepack`), except for the ``model_reads`` layers; None where it does not apply."""
    from .runtime.prepack import prepack_transform

    return prepack_transform(dtype, keep=lambda name: name in model_reads)


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
