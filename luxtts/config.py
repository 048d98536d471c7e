"""Typed configs: what a set of weights *is*, parsed from the published json/yaml files.

Per-call settings (steps, speed, ...) live in :class:`luxtts.options.SynthesisOptions`, not here.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Tuple

from .errors import ConfigError

SUPPORTED_FEATURE_TYPES = ("vocos",)


def _check_keys(section: str, given: Mapping[str, Any], cls: type, required: Sequence[str] = ()) -> None:
    if not isinstance(given, Mapping):
        raise ConfigError(f"{section}: expected a mapping, got {type(given).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(given) - known)
    if unknown:
        raise ConfigError(f"{section}: unknown key(s) {unknown}; accepted keys are {sorted(known)}")
    missing = sorted(k for k in required if k not in given)
    if missing:
        raise ConfigError(f"{section}: missing required key(s) {missing}")


def _int_tuple(section: str, name: str, value: Any) -> Tuple[int, ...]:
    if isinstance(value, int):
        return (value,)
    try:
        return tuple(int(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(f"{section}.{name}: expected an integer or a list of integers, got {value!r}") from None


@dataclass(frozen=True)
class ModelConfig:
    """Dimensions of a ZipVoice / ZipVoice-Distill acoustic model (the ``"model"`` section of config.json).

    ``vocab_size`` and ``pad_id`` are not in config.json upstream: they come from ``tokens.txt``.
    """

    fm_decoder_downsampling_factor: Tuple[int, ...] = (1, 2, 4, 2, 1)
    fm_decoder_num_layers: Tuple[int, ...] = (2, 2, 4, 4, 4)
    fm_decoder_cnn_module_kernel: Tuple[int, ...] = (31, 15, 7, 15, 31)
    fm_decoder_feedforward_dim: int = 1536
    fm_decoder_num_heads: int = 4
    fm_decoder_dim: int = 512
    text_encoder_num_layers: int = 4
    text_encoder_feedforward_dim: int = 512
    text_encoder_cnn_module_kernel: int = 9
    text_encoder_num_heads: int = 4
    text_encoder_dim: int = 192
    query_head_dim: int = 32
    value_head_dim: int = 12
    pos_head_dim: int = 4
    pos_dim: int = 48
    time_embed_dim: int = 192
    text_embed_dim: int = 192
    feat_dim: int = 100
    vocab_size: int = 26
    pad_id: int = 0

    _TUPLE_FIELDS = ("fm_decoder_downsampling_factor", "fm_decoder_num_layers", "fm_decoder_cnn_module_kernel")

    def __post_init__(self) -> None:
        n = len(self.fm_decoder_downsampling_factor)
        for name in ("fm_decoder_num_layers", "fm_decoder_cnn_module_kernel"):
            if len(getattr(self, name)) != n:
                raise ConfigError(
                    f"model.{name} has {len(getattr(self, name))} entries but "
                    f"fm_decoder_downsampling_factor has {n}; they must match"
                )
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            values = value if isinstance(value, tuple) else (value,)
            if any((not isinstance(v, int)) or v < 0 for v in values):
                raise ConfigError(f"model.{f.name} must be non-negative integer(s), got {value!r}")
        # Convolutions keep the sequence length only with an odd kernel (padding kernel // 2 on each side).
        for name in ("fm_decoder_cnn_module_kernel", "text_encoder_cnn_module_kernel"):
            value = getattr(self, name)
            if any(k % 2 == 0 for k in (value if isinstance(value, tuple) else (value,))):
                raise ConfigError(f"model.{name} must be odd kernel size(s), got {value!r}")
        if self.pos_dim % 2:
            raise ConfigError(f"model.pos_dim must be even (sine/cosine pairs), got {self.pos_dim}")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], vocab_size: Optional[int] = None, pad_id: Optional[int] = None) -> "ModelConfig":
        _check_keys("model", d, cls)
        kwargs = dict(d)
        for name in cls._TUPLE_FIELDS:
            if name in kwargs:
                kwargs[name] = _int_tuple("model", name, kwargs[name])
        if vocab_size is not None:
            kwargs["vocab_size"] = int(vocab_size)
        if pad_id is not None:
            kwargs["pad_id"] = int(pad_id)
        return cls(**kwargs)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        for name in self._TUPLE_FIELDS:
            d[name] = list(d[name])
        return d


@dataclass(frozen=True)
class FeatureConfig:
    """The ``"feature"`` section of config.json: which acoustic features the model consumes."""

    sampling_rate: int = 24000
    type: str = "vocos"

    def __post_init__(self) -> None:
        if self.type not in SUPPORTED_FEATURE_TYPES:
            raise ConfigError(
                f"feature.type {self.type!r} is not supported; supported: {list(SUPPORTED_FEATURE_TYPES)}"
            )
        if self.sampling_rate != 24000:
            raise ConfigError(f"feature.sampling_rate must be 24000 for vocos features, got {self.sampling_rate}")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "FeatureConfig":
        _check_keys("feature", d, cls)
        return cls(**d)


@dataclass(frozen=True)
class AcousticModelFile:
    """A parsed config.json / model.json: model dimensions plus feature description."""

    model: ModelConfig
    feature: FeatureConfig = field(default_factory=FeatureConfig)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], vocab_size: Optional[int] = None, pad_id: Optional[int] = None):
        if not isinstance(d, Mapping) or "model" not in d:
            raise ConfigError('model config must be a JSON object with a "model" section')
        extra = sorted(set(d) - {"model", "feature"})
        if extra:
            raise ConfigError(f"model config: unknown top-level key(s) {extra}; accepted: ['feature', 'model']")
        return cls(
            model=ModelConfig.from_dict(d["model"], vocab_size=vocab_size, pad_id=pad_id),
            feature=FeatureConfig.from_dict(d.get("feature", {})),
        )

    @classmethod
    def from_json(cls, path, vocab_size: Optional[int] = None, pad_id: Optional[int] = None):
        path = Path(path)
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"model config not found: {path}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ConfigError(f"model config {path} is not valid JSON: {e}") from None
        try:
            return cls.from_dict(d, vocab_size=vocab_size, pad_id=pad_id)
        except ConfigError as e:
            raise ConfigError(f"{path}: {e}") from None

    def to_dict(self) -> dict:
        model = self.model.to_dict()
        model.pop("vocab_size")
        model.pop("pad_id")
        return {"model": model, "feature": dataclasses.asdict(self.feature)}


# ----------------------------------------------------------------------------------------------
# Vocoder configs (vocos-style yaml: each section has class_path + init_args)


@dataclass(frozen=True)
class MelConfig:
    """Log-mel features (vocos.feature_extractors.MelSpectrogramFeatures)."""

    sample_rate: int = 24000
    n_fft: int = 1024
    hop_length: int = 256
    n_mels: int = 100
    padding: str = "center"

    def __post_init__(self) -> None:
        if self.padding not in ("center", "same"):
            raise ConfigError(f"feature_extractor.padding must be 'center' or 'same', got {self.padding!r}")


@dataclass(frozen=True)
class BackboneConfig:
    """ConvNeXt backbone (vocos.models.VocosBackbone)."""

    input_channels: int = 100
    dim: int = 512
    intermediate_dim: int = 1536
    num_layers: int = 8
    layer_scale_init_value: Optional[float] = None
    adanorm_num_embeddings: Optional[int] = None

    def __post_init__(self) -> None:
        if self.adanorm_num_embeddings is not None:
            raise ConfigError("backbone.adanorm_num_embeddings is not supported (only mel-conditioned Vocos is)")


@dataclass(frozen=True)
class HeadConfig:
    """ISTFT head (vocos.heads.ISTFTHead)."""

    dim: int = 512
    n_fft: int = 1024
    hop_length: int = 256
    padding: str = "same"

    def __post_init__(self) -> None:
        if self.padding not in ("center", "same"):
            raise ConfigError(f"head.padding must be 'center' or 'same', got {self.padding!r}")


@dataclass(frozen=True)
class UpsamplerConfig:
    """LinaCodec's UpSamplerBlock (transposed convs + ResNet blocks + Snake)."""

    in_channels: int = 512
    upsample_factors: Tuple[int, ...] = (2, 2)
    kernel_sizes: Optional[Tuple[int, ...]] = None

    def __post_init__(self) -> None:
        ks = self.kernel_sizes if self.kernel_sizes is not None else (8,) * len(self.upsample_factors)
        object.__setattr__(self, "upsample_factors", tuple(int(u) for u in self.upsample_factors))
        object.__setattr__(self, "kernel_sizes", tuple(int(k) for k in ks))
        if len(self.kernel_sizes) != len(self.upsample_factors):
            raise ConfigError("upsampler.kernel_sizes and upsample_factors must have the same length")


# class_path in the published yaml -> (section name, our config class)
VOCODER_CLASSES = {
    "vocos.feature_extractors.MelSpectrogramFeatures": MelConfig,
    "vocos.models.VocosBackbone": BackboneConfig,
    "vocos.heads.ISTFTHead": HeadConfig,
    "linacodec.vocoder.upsampler_block.UpSamplerBlock": UpsamplerConfig,
}
_SECTION_CLASSES = {
    "feature_extractor": (MelConfig,),
    "backbone": (BackboneConfig,),
    "head": (HeadConfig,),
    "upsampler": (UpsamplerConfig,),
    "head_48k": (HeadConfig,),
}


@dataclass(frozen=True)
class VocoderConfig:
    """A Vocos vocoder; with ``upsampler`` and ``head_48k`` it is LuxTTS's dual-head 48 kHz model."""

    feature_extractor: MelConfig = field(default_factory=MelConfig)
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    head: HeadConfig = field(default_factory=HeadConfig)
    upsampler: Optional[UpsamplerConfig] = None
    head_48k: Optional[HeadConfig] = None

    def __post_init__(self) -> None:
        if (self.upsampler is None) != (self.head_48k is None):
            raise ConfigError("vocoder config: 'upsampler' and 'head_48k' must be given together")

    @property
    def is_48k(self) -> bool:
        return self.upsampler is not None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "VocoderConfig":
        if not isinstance(d, Mapping):
            raise ConfigError("vocoder config must be a mapping of sections")
        unknown = sorted(set(d) - set(_SECTION_CLASSES))
        if unknown:
            raise ConfigError(f"vocoder config: unknown section(s) {unknown}; accepted: {sorted(_SECTION_CLASSES)}")
        for required in ("feature_extractor", "backbone", "head"):
            if required not in d:
                raise ConfigError(f"vocoder config: missing section {required!r}")
        parsed = {}
        for section, spec in d.items():
            if not isinstance(spec, Mapping) or "class_path" not in spec:
                raise ConfigError(f"vocoder config: section {section!r} needs a 'class_path'")
            class_path = spec["class_path"]
            cfg_cls = VOCODER_CLASSES.get(class_path)
            if cfg_cls is None or cfg_cls not in _SECTION_CLASSES[section]:
                supported = [p for p, c in VOCODER_CLASSES.items() if c in _SECTION_CLASSES[section]]
                raise ConfigError(
                    f"vocoder config: {section}.class_path {class_path!r} is not supported; supported: {supported}"
                )
            init_args = spec.get("init_args") or {}
            _check_keys(f"{section}.init_args", init_args, cfg_cls)
            init_args = {k: tuple(v) if isinstance(v, list) else v for k, v in init_args.items()}
            try:
                parsed[section] = cfg_cls(**init_args)
            except TypeError as e:
                raise ConfigError(f"vocoder config: {section}: {e}") from None
        return cls(**parsed)

    @classmethod
    def from_yaml(cls, path) -> "VocoderConfig":
        import yaml

        path = Path(path)
        try:
            d = yaml.safe_load(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"vocoder config not found: {path}") from None
        except (yaml.YAMLError, UnicodeDecodeError) as e:
            raise ConfigError(f"vocoder config {path} is not valid YAML: {e}") from None
        try:
            return cls.from_dict(d)
        except ConfigError as e:
            raise ConfigError(f"{path}: {e}") from None

    def to_dict(self) -> dict:
        reverse = {}
        for path, c in VOCODER_CLASSES.items():
            reverse.setdefault(c, path)
        out = {}
        for f in dataclasses.fields(self):
            sub = getattr(self, f.name)
            if sub is None:
                continue
            args = {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(sub).items()}
            out[f.name] = {"class_path": reverse[type(sub)], "init_args": args}
        return out
