"""A voice prompt, encoded once and reused: scaled log-mel features, transcript tokens and loudness.

Saved as one ``.safetensors`` file: the tensors, plus the rest as JSON in the file's metadata. No pickle.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, List, Mapping, Optional, Sequence, Union

import torch

from .errors import (
    CheckpointError,
    InvalidOptionError,
    PromptError,
    VoiceFileNotFoundError,
    VoiceWriteError,
    brief,
)

FORMAT_NAME = "luxtts.voice"
FORMAT_VERSION = 1
_META_KEY = "luxtts_voice"

PathLike = Union[str, os.PathLike]

# Recognised so that a recording given where an encoded prompt belongs gets a message saying so.
_AUDIO_SUFFIXES = frozenset(".wav .wave .flac .ogg .oga .opus .mp3 .m4a .aac .aif .aiff .au .wma .webm".split())
_AUDIO_MAGIC = (b"RIFF", b"RF64", b"fLaC", b"OggS", b"ID3", b"FORM", b".snd", b"\xff\xfb", b"\xff\xf3", b"\xff\xf2")
AUDIO_HINT = "call tts.encode_prompt(audio, text=...) first (or pass a saved voice name or .safetensors file)"
# An rms above this cannot come from audio in [-1, 1] (a full-scale square wave has rms 1).
_MAX_RMS = 1.0


@dataclass(frozen=True, eq=False)
class VoicePrompt:
    """Everything generation needs from a reference recording.

    features: (T, 100) float32 log-mel x 0.1 (what the acoustic model consumes), on the CPU.
    tokens: the transcript's token ids. rms: the recording's original rms (before normalisation), which the
    output's loudness is matched to, in (0, 1]. target_rms: the level the recording was normalised to.
    vocab_sha256: fingerprint of the token table that produced ``tokens`` (None if unknown).
    source, duration, cropped, extra: where it came from; ``source`` is provenance only, so two prompts with the
    same content compare equal whether they were read from a path, bytes or an array.
    Content is checked when a model uses the prompt (:meth:`check`), so a bad prompt fails with a PromptError
    rather than giving NaN or clipped audio.
    """

    features: torch.Tensor
    tokens: List[int]
    rms: float
    transcript: Optional[str] = None
    source: str = ""
    sample_rate: int = 24000
    duration: float = 0.0
    cropped: bool = False
    target_rms: float = 0.01
    vocab_sha256: Optional[str] = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        f = self.features
        if not isinstance(f, torch.Tensor) or f.dim() != 2 or f.shape[0] < 1 or f.is_complex():
            shape = tuple(f.shape) if isinstance(f, torch.Tensor) else type(f).__name__
            raise PromptError(f"VoicePrompt.features must be a real tensor (T, n_mels) with T >= 1, got {shape}")
        from .inputs import as_flag, as_float, as_int, is_integer

        tokens = self.tokens
        if hasattr(tokens, "tolist") and getattr(tokens, "ndim", 0) == 1:  # a numpy array or tensor of ids
            tokens = tokens.tolist()
        if isinstance(tokens, (str, bytes, bytearray)) or not isinstance(tokens, Sequence) or not tokens:
            raise PromptError("VoicePrompt.tokens must be a non-empty list of token ids (the transcript's), "
                              f"got {brief(tokens)}")
        if not all(is_integer(t) for t in tokens):
            raise PromptError(f"VoicePrompt.tokens must be integers, got {brief(list(tokens))}")
        try:
            numbers = {
                "rms": as_float("VoicePrompt.rms", self.rms, 0.0, strict=True),
                "target_rms": as_float("VoicePrompt.target_rms", self.target_rms, 0.0, strict=True),
                "duration": as_float("VoicePrompt.duration", self.duration, 0.0, strict=False),
                "sample_rate": as_int("VoicePrompt.sample_rate", self.sample_rate, 1),
                "cropped": as_flag("VoicePrompt.cropped", self.cropped),
            }
        except InvalidOptionError as e:
            raise PromptError(str(e)) from None
        for name in ("transcript", "source", "vocab_sha256"):
            value = getattr(self, name)
            if not isinstance(value, str) and not (value is None and name != "source"):
                raise PromptError(f"VoicePrompt.{name} must be a str{'' if name == 'source' else ' or None'}, "
                                  f"got {type(value).__name__}")
        try:
            json.dumps(dict(self.extra))
        except (TypeError, ValueError):
            raise PromptError("VoicePrompt.extra must be a mapping of JSON values (it is saved as JSON)") from None
        object.__setattr__(self, "features", f.detach().to("cpu", torch.float32).contiguous())
        object.__setattr__(self, "tokens", [int(t) for t in tokens])
        for name, value in numbers.items():
            object.__setattr__(self, name, value)

    def check(self, feat_dim: int, vocab_size: int) -> "VoicePrompt":
        """Raise PromptError unless this prompt can drive a model with ``feat_dim`` mels and ``vocab_size`` tokens."""
        where = f"voice prompt {self.source!r}" if self.source else "voice prompt"
        if self.features.shape[1] != feat_dim:
            raise PromptError(f"{where} has {self.features.shape[1]} features per frame; this model takes {feat_dim} "
                              "(it was encoded for another model: encode it again)")
        if not bool(torch.isfinite(self.features).all()):
            raise PromptError(f"{where}: features contain NaN or infinity; encode the recording again")
        if not 0.0 < self.rms <= _MAX_RMS:
            raise PromptError(f"{where}: rms must be in (0, {_MAX_RMS:g}] (the recording's loudness), got {self.rms!r}")
        bad = [t for t in self.tokens if not 0 <= t < vocab_size]
        if bad:
            raise PromptError(f"{where}: token ids {brief(bad)} are outside this model's table (0..{vocab_size - 1})")
        return self

    def __repr__(self) -> str:
        text = self.transcript if self.transcript is None or len(self.transcript) <= 40 else self.transcript[:37] + "..."
        return (f"VoicePrompt(frames={self.num_frames}, seconds={self.duration:.2f}, tokens={len(self.tokens)}, "
                f"rms={self.rms:.4g}, transcript={text!r}, source={brief(self.source, 80)})")

    @property
    def num_frames(self) -> int:
        return int(self.features.shape[0])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, VoicePrompt):
            return NotImplemented
        mine, theirs = self._meta(), other._meta()
        mine.pop("source")
        theirs.pop("source")
        return torch.equal(self.features, other.features) and mine == theirs

    __hash__ = None  # type: ignore[assignment]  # mutable tensor inside: not hashable

    def _meta(self) -> dict:
        return {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "tokens": self.tokens,
            "rms": self.rms,
            "transcript": self.transcript,
            "source": self.source,
            "sample_rate": self.sample_rate,
            "duration": self.duration,
            "cropped": self.cropped,
            "target_rms": self.target_rms,
            "vocab_sha256": self.vocab_sha256,
            "extra": dict(self.extra),
        }

    def save(self, path: PathLike) -> Path:
        """Write the prompt to ``path`` (a .safetensors file, written atomically; an existing file is replaced).

        Returns the path. Raises VoiceWriteError (an OSError) when the folder is missing, ``path`` is a folder,
        or the file cannot be written.
        """
        from .weights import save_safetensors

        path = _as_path("path", path)
        if path.is_dir():
            raise VoiceWriteError(f"{path} is a folder; give a file name such as {path / 'voice.safetensors'}")
        if not path.parent.is_dir():
            raise VoiceWriteError(f"cannot save the voice to {path}: the folder {path.parent} does not exist")
        try:
            save_safetensors({"features": self.features}, path, metadata=self._file_metadata())
        except Exception as e:  # safetensors raises its own SafetensorError for I/O failures
            detail = str(e).strip()[:160] or type(e).__name__
            raise VoiceWriteError(f"cannot save the voice to {path}: {detail}") from None
        return path

    def to_bytes(self) -> bytes:
        """The prompt as the bytes of a .safetensors voice file (what :meth:`save` writes)."""
        from safetensors.torch import save

        return save({"features": self.features}, metadata=self._file_metadata())

    def _file_metadata(self) -> dict:
        return {_META_KEY: json.dumps(self._meta(), ensure_ascii=False)}

    @classmethod
    def load(cls, path: PathLike) -> "VoicePrompt":
        """Read a prompt written by :meth:`save`; raises CheckpointError for anything else."""
        from safetensors import SafetensorError, safe_open

        path = _as_path("path", path)
        if path.is_dir():
            raise CheckpointError(f"{path} is a folder, not a voice file (.safetensors)")
        if not path.is_file():
            raise VoiceFileNotFoundError(f"voice file not found: {path}")
        try:
            with safe_open(str(path), framework="pt") as f:
                meta_text = (f.metadata() or {}).get(_META_KEY)
                features = f.get_tensor("features") if "features" in f.keys() else None
        except (SafetensorError, OSError, ValueError) as e:
            if _looks_like_audio(path):
                raise PromptError(f"{path} is audio, not a saved voice: {AUDIO_HINT}") from None
            raise CheckpointError(f"{path} is not a readable voice file: {str(e)[:120]}") from None
        return cls._from_parts(meta_text, features, str(path))

    @classmethod
    def from_bytes(cls, data: bytes, where: str = "voice data") -> "VoicePrompt":
        """Read the bytes :meth:`to_bytes` made; raises CheckpointError (naming ``where``) for anything else."""
        from safetensors import SafetensorError
        from safetensors.torch import load

        data = bytes(data)
        try:
            meta_text = safetensors_metadata(data).get(_META_KEY)
            features = load(data).get("features")
        except (SafetensorError, ValueError) as e:
            raise CheckpointError(f"{where} is not a readable voice file: {str(e)[:120]}") from None
        return cls._from_parts(meta_text, features, where)

    @classmethod
    def _from_parts(cls, meta_text: Optional[str], features: Optional[torch.Tensor], where: str) -> "VoicePrompt":
        if meta_text is None or features is None:
            raise CheckpointError(f"{where} is a safetensors file but not a luxtts voice (no voice metadata)")
        try:
            meta = json.loads(meta_text)
        except json.JSONDecodeError as e:
            raise CheckpointError(f"{where}: voice metadata is not valid JSON: {e}") from None
        if not isinstance(meta, dict):
            raise CheckpointError(f"{where}: voice metadata is not a JSON object")
        if meta.get("format") != FORMAT_NAME or meta.get("version") != FORMAT_VERSION:
            raise CheckpointError(
                f"{where}: unsupported voice format {meta.get('format')!r} version {meta.get('version')!r} "
                f"(this luxtts reads {FORMAT_NAME!r} version {FORMAT_VERSION})"
            )
        meta.pop("format")
        meta.pop("version")
        known = {f.name for f in fields(cls)} - {"features"}
        if set(meta) - known:
            raise CheckpointError(f"{where}: unknown voice metadata keys {brief(sorted(set(meta) - known))}")
        try:
            return cls(features=features, **meta)
        except PromptError as e:
            raise CheckpointError(f"{where}: {e}") from None

    @classmethod
    def from_upstream(cls, encoded: Mapping[str, Any]) -> "VoicePrompt":
        """Convert upstream LuxTTS's ``encode_prompt`` dict (prompt_tokens, prompt_features_lens,
        prompt_features (1, T, 100), prompt_rms)."""
        try:
            features = encoded["prompt_features"]
            tokens = encoded["prompt_tokens"]
            rms = encoded["prompt_rms"]
        except KeyError as e:
            raise PromptError(f"an upstream prompt dict needs the keys prompt_features, prompt_tokens and "
                              f"prompt_rms; {brief(e.args[0])} is missing") from None
        if isinstance(features, torch.Tensor) and features.dim() == 3:
            if features.shape[0] != 1:
                raise PromptError(f"upstream prompt_features must be (1, T, n_mels), got {tuple(features.shape)}")
            lens = encoded.get("prompt_features_lens", [features.shape[1]])
            try:
                length = int(torch.as_tensor(lens).reshape(-1)[0])
            except (TypeError, ValueError, RuntimeError, IndexError):
                raise PromptError(f"upstream prompt_features_lens must hold one length, got {brief(lens)}") from None
            if not 1 <= length <= features.shape[1]:
                raise PromptError(f"upstream prompt_features_lens {length} is outside 1..{features.shape[1]}")
            features = features[0, :length]
        if isinstance(tokens, Sequence) and tokens and isinstance(tokens[0], Sequence):
            tokens = tokens[0]
        if isinstance(rms, torch.Tensor):
            rms = rms.reshape(-1)[0].item() if rms.numel() == 1 else rms
        return cls(features=features, tokens=tokens, rms=rms, source="<upstream prompt>")

    def to_upstream(self, device: Union[str, torch.device] = "cpu") -> dict:
        """The dict upstream LuxTTS's ``generate_speech`` takes."""
        feats = self.features.to(device)[None]
        return {
            "prompt_tokens": [list(self.tokens)],
            "prompt_features_lens": torch.tensor([self.num_frames], device=device),
            "prompt_features": feats,
            "prompt_rms": torch.tensor(self.rms, dtype=torch.float32),
        }


def as_prompt(prompt: Any, named: Optional[Callable[[str], VoicePrompt]] = None) -> VoicePrompt:
    """What generation accepts as a prompt: a VoicePrompt, upstream's prompt dict, the path of a saved voice file
    (``.safetensors``), or a bare name, which ``named`` resolves (the pipeline passes the voice library's
    :func:`luxtts.voices.named_prompt`; prompts know nothing of libraries).

    Audio (a recording's path, bytes, a file object, an array) is refused with a PromptError saying to call
    ``encode_prompt`` first.
    """
    if isinstance(prompt, VoicePrompt):
        return prompt
    if isinstance(prompt, Mapping):
        return VoicePrompt.from_upstream(prompt)
    if isinstance(prompt, (str, os.PathLike)):
        return _prompt_at(prompt, named)
    if isinstance(prompt, (bytes, bytearray, memoryview, tuple)) or hasattr(prompt, "read") \
            or hasattr(prompt, "shape"):
        raise PromptError(f"prompt: this is audio ({brief(prompt)}): {AUDIO_HINT}")
    raise PromptError(
        "prompt must be a VoicePrompt (from encode_prompt), a saved voice name or .safetensors file, or an "
        f"upstream prompt dict, got {type(prompt).__name__}"
    )


def _prompt_at(value: PathLike, named: Optional[Callable[[str], VoicePrompt]]) -> VoicePrompt:
    path = _as_path("prompt", value)
    if path.is_file() and path.suffix != ".safetensors":
        if _looks_like_audio(path):
            raise PromptError(f"prompt {str(path)!r} is audio: {AUDIO_HINT}")
        raise PromptError(f"prompt {str(path)!r} is not a saved voice file (.safetensors) nor audio")
    if path.suffix == ".safetensors" or os.sep in str(value) or path.is_dir():
        return VoicePrompt.load(path)
    if named is None:
        raise PromptError(f"prompt {os.fspath(value)!r} is not a file; a saved voice's name needs the voice library "
                          "(luxtts.voices.load_voice, or pass the name to LuxTTS.generate)")
    return named(os.fspath(value))


def _as_path(name: str, value: object) -> Path:
    try:
        text = os.fspath(value)  # type: ignore[arg-type]
    except TypeError:
        raise InvalidOptionError(f"{name} must be a path (str or os.PathLike), got {type(value).__name__}") from None
    if isinstance(text, bytes):
        raise InvalidOptionError(f"{name} must be a str path, got bytes")
    if not text or "\x00" in text:
        raise InvalidOptionError(f"{name} must be a non-empty path without NUL characters, got {brief(text)}")
    path = Path(text).expanduser()
    try:
        path.exists()
    except OSError as e:  # too long a name, and the like: nothing can be found there
        raise InvalidOptionError(f"{name} {brief(text)} is not a usable path ({e.strerror})") from None
    return path


def _looks_like_audio(path: Path) -> bool:
    if path.suffix.lower() in _AUDIO_SUFFIXES:
        return True
    try:
        with open(path, "rb") as f:
            head = f.read(12)
    except OSError:
        return False
    return head.startswith(_AUDIO_MAGIC) or head[4:8] == b"ftyp"


def vocab_fingerprint(token_to_id: Mapping[str, int]) -> str:
    """sha256 of a token table, independent of how the file was laid out."""
    import hashlib

    lines = "\n".join(f"{token}\t{idx}" for token, idx in sorted(token_to_id.items(), key=lambda kv: kv[1]))
    return hashlib.sha256(lines.encode("utf-8")).hexdigest()


def safetensors_metadata(data: bytes) -> dict:
    """The ``__metadata__`` strings of safetensors bytes, read from the header alone (8-byte little-endian
    header length, then JSON). Raises ValueError for bytes that are not safetensors."""
    if len(data) < 8:
        raise ValueError(f"{len(data)} bytes is too short for a safetensors header")
    size = int.from_bytes(data[:8], "little")
    if size > len(data) - 8:
        raise ValueError(f"header length {size} runs past the {len(data)} bytes given")
    try:
        header = json.loads(data[8 : 8 + size].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"the header is not JSON: {e}") from None
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    return dict(meta) if isinstance(meta, dict) else {}
