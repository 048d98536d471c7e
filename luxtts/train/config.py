"""The typed configuration of one training run (``luxtts train fit`` / ``distill``), stored with every
checkpoint as ``train_config.json``."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Tuple

from ..errors import InvalidOptionError

STAGES = ("fm", "distill1", "distill2")
DECAYS = ("cosine", "linear", "constant")
PRECISIONS = ("fp32", "bf16", "fp16")


@dataclass
class TrainConfig:
    data: str  # a folder written by `luxtts train prepare`
    out: str  # run folder: checkpoints/, tensorboard/, train_config.json
    init: Optional[str] = None  # published-layout model folder to fine-tune (or the student, for distill2)
    model_config: Optional[str] = None  # with `tokens`: a new model from an upstream-layout config.json
    tokens: Optional[str] = None
    stage: str = "fm"  # fm: flow matching; distill1: fixed CFG teacher (`teacher`); distill2: EMA teacher
    teacher: Optional[str] = None
    add_tokens: bool = True  # append the data's unknown tokens to the vocabulary (new embedding rows)
    freeze: Tuple[str, ...] = ()  # parameter name prefixes kept fixed, e.g. ("text_encoder", "embed")
    steps: int = 1000
    lr: float = 1e-4
    weight_decay: float = 0.01
    betas: Tuple[float, float] = (0.9, 0.98)
    warmup_steps: int = 100
    decay: str = "cosine"
    min_lr_ratio: float = 0.1
    grad_clip: float = 1.0  # max global gradient norm; 0 = no clipping
    accumulate: int = 1  # micro-batches per optimiser step (per rank)
    max_frames: int = 4000  # frame budget of one micro-batch (batch size x longest utterance)
    ema_decay: float = 0.999  # 0 = no EMA (distill2 needs one: it is the teacher)
    condition_drop_ratio: float = 0.2  # probability of zeroing an utterance's text condition (CFG training)
    seed: int = 0
    log_every: int = 10
    valid_every: int = 0  # 0 = only at the end
    save_every: int = 500
    keep: int = 3  # checkpoints kept
    precision: str = "fp32"  # bf16 / fp16 autocast on a GPU
    device: str = "cpu"
    tensorboard: bool = True
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.freeze = tuple(self.freeze)
        self.betas = tuple(self.betas)
        checks = [
            (self.stage in STAGES, f"stage must be one of {STAGES}, got {self.stage!r}"),
            (self.decay in DECAYS, f"decay must be one of {DECAYS}, got {self.decay!r}"),
            (self.precision in PRECISIONS, f"precision must be one of {PRECISIONS}, got {self.precision!r}"),
            (self.steps >= 1, f"steps must be >= 1, got {self.steps}"),
            (self.lr > 0, f"lr must be > 0, got {self.lr}"),
            (0 <= self.warmup_steps, f"warmup_steps must be >= 0, got {self.warmup_steps}"),
            (0 <= self.min_lr_ratio <= 1, f"min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}"),
            (self.grad_clip >= 0, f"grad_clip must be >= 0, got {self.grad_clip}"),
            (self.accumulate >= 1, f"accumulate must be >= 1, got {self.accumulate}"),
            (self.max_frames >= 1, f"max_frames must be >= 1, got {self.max_frames}"),
            (0 <= self.ema_decay < 1, f"ema_decay must be in [0, 1), got {self.ema_decay}"),
            (0 <= self.condition_drop_ratio < 1, f"condition_drop_ratio must be in [0, 1), got {self.condition_drop_ratio}"),
            (self.save_every >= 1 and self.keep >= 1, "save_every and keep must be >= 1"),
            (self.init is not None or (self.model_config and self.tokens) or self.stage == "distill1",
             "give init (a model folder) or model_config and tokens (a new model)"),
            (self.stage != "distill1" or self.teacher, "stage distill1 needs teacher (a base ZipVoice folder)"),
            (self.stage != "distill2" or (self.init and self.ema_decay > 0),
             "stage distill2 needs init (a stage-1 student) and ema_decay > 0 (the EMA is its teacher)"),
        ]
        for ok, message in checks:
            if not ok:
                raise InvalidOptionError(message)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=1)

    @classmethod
    def from_json(cls, path) -> "TrainConfig":
        d = json.loads(Path(path).read_text(encoding="utf-8"))
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise InvalidOptionError(f"{path}: unknown training settings {unknown}")
        return cls(**d)


def lr_factor(step: int, cfg: TrainConfig) -> float:
    """Learning-rate multiplier at optimiser step ``step`` (0-based): linear warm-up, then decay to
    min_lr_ratio at cfg.steps."""
    if step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    if cfg.decay == "constant":
        return 1.0
    span = max(1, cfg.steps - cfg.warmup_steps)
    progress = min(1.0, (step - cfg.warmup_steps) / span)
    import math

    shape = 0.5 * (1 + math.cos(math.pi * progress)) if cfg.decay == "cosine" else 1 - progress
    return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * shape
