"""A voice prompt, encoded once and reused: scaled log-mel features, transcript tokens and loudness.

Saved as one ``.safetensors`` file: the tensors, plus the rest as JSON in the file's metadata. No pickle.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, List, Mapping, Optional, Sequence, Union

import torch

from .errors import CheckpointError, InvalidOptionError

FORMAT_NAME = "luxtts.voice"
FORMAT_VERSION = 1
_META_KEY = "luxtts_voice"

PathLike = Union[str, os.PathLike]


@dataclass(frozen=True, eq=False)
class VoicePrompt:
    """Everything generation needs from a reference recording.

    features: (T, 100) float32 log-mel x 0.1 (what the acoustic model consumes), on the CPU.
    tokens: the transcript's token ids. rms: the recording's original rms (before normalisation), which the
    output's loudness is matched to. target_rms: the level the recording was normalised to.
    vocab_sha256: fingerprint of the token table that produced ``tokens`` (None if unknown).
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
        if not isinstance(f, torch.Tensor) or f.dim() != 2 or f.shape[0] < 1:
            shape = tuple(f.shape) if isinstance(f, torch.Tensor) else type(f).__name__
            raise InvalidOptionError(f"VoicePrompt.features must be a tensor (T, n_mels) with T >= 1, got {shape}")
        if not self.tokens:
            raise InvalidOptionError("VoicePrompt.tokens is empty: the prompt transcript must give at least one token")
        object.__setattr__(self, "features", f.detach().to("cpu", torch.float32).contiguous())
        object.__setattr__(self, "tokens", [int(t) for t in self.tokens])

    @property
    def num_frames(self) -> int:
        return int(self.features.shape[0])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, VoicePrompt):
            return NotImplemented
        return torch.equal(self.features, other.features) and self._meta() == other._meta()

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
        """Write the prompt to ``path`` (a .safetensors file, written atomically). Returns the path."""
        from .weights import save_safetensors

        path = Path(os.fspath(path)).expanduser()
        save_safetensors({"features": self.features}, path, metadata=self._file_metadata())
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

        path = Path(os.fspath(path)).expanduser()
        if not path.is_file():
            raise CheckpointError(f"voice file not found: {path}")
        try:
            with safe_open(str(path), framework="pt") as f:
                meta_text = (f.metadata() or {}).get(_META_KEY)
                features = f.get_tensor("features") if "features" in f.keys() else None
        except (SafetensorError, OSError, ValueError) as e:
            raise CheckpointError(f"{path} is not a readable voice file: {e}") from None
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
            raise CheckpointError(f"{where} is not a readable voice file: {e}") from None
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
        try:
            return cls(features=features, **meta)
        except TypeError as e:
            raise CheckpointError(f"{where}: voice metadata has fields this luxtts does not know: {e}") from None

    @classmethod
    def from_upstream(cls, encoded: Mapping[str, Any]) -> "VoicePrompt":
        """Convert upstream LuxTTS's ``encode_prompt`` dict (prompt_tokens, prompt_features_lens,
        prompt_features (1, T, 100), prompt_rms)."""
        try:
            features = encoded["prompt_features"]
            tokens = encoded["prompt_tokens"]
            rms = encoded["prompt_rms"]
        except KeyError as e:
            raise InvalidOptionError(f"an upstream prompt dict needs the key {e.args[0]!r}") from None
        if isinstance(features, torch.Tensor) and features.dim() == 3:
            length = int(torch.as_tensor(encoded.get("prompt_features_lens", [features.shape[1]]))[0])
            features = features[0, :length]
        if tokens and isinstance(tokens[0], Sequence):
            tokens = tokens[0]
        return cls(features=features, tokens=list(tokens), rms=float(rms), source="<upstream prompt>")

    def to_upstream(self, device: Union[str, torch.device] = "cpu") -> dict:
        """The dict upstream LuxTTS's ``generate_speech`` takes."""
        feats = self.features.to(device)[None]
        return {
            "prompt_tokens": [list(self.tokens)],
            "prompt_features_lens": torch.tensor([self.num_frames], device=device),
            "prompt_features": feats,
            "prompt_rms": torch.tensor(self.rms, dtype=torch.float32),
        }


def as_prompt(prompt: Union[VoicePrompt, Mapping[str, Any], PathLike]) -> VoicePrompt:
    """Accept a VoicePrompt, an upstream prompt dict, or the path of a saved voice file."""
    if isinstance(prompt, VoicePrompt):
        return prompt
    if isinstance(prompt, Mapping):
        return VoicePrompt.from_upstream(prompt)
    if isinstance(prompt, (str, os.PathLike)):
        return VoicePrompt.load(prompt)
    raise InvalidOptionError(
        f"prompt must be a VoicePrompt (from encode_prompt), an upstream prompt dict or a saved voice file, "
        f"got {type(prompt).__name__}"
    )


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
