"""Models for training: start from a published-layout folder (with the data's new tokens appended) or from a
config; build a distillation student; write the folder layout inference loads."""

from __future__ import annotations

import dataclasses
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import torch
from torch import nn

from ..config import AcousticModelFile
from ..errors import ConfigError
from ..fileio import replaced_atomically, write_text_atomically
from ..model.zipvoice import ZipVoiceModel
from ..text.vocab import PAD_TOKEN


@dataclass
class Vocabulary:
    """token -> id in file order; new tokens are appended with the next free ids."""

    token_to_id: Dict[str, int]

    @classmethod
    def read(cls, path: os.PathLike) -> "Vocabulary":
        table: Dict[str, int] = {}
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            if line.strip():
                token, token_id = line.rstrip("\n").split("\t")[:2]
                table[token] = int(token_id)
        if PAD_TOKEN not in table:
            raise ConfigError(f"{path} has no pad token {PAD_TOKEN!r}")
        return cls(table)

    def extended(self, tokens: Sequence[str]) -> "Vocabulary":
        table = dict(self.token_to_id)
        next_id = max(table.values()) + 1
        for token in tokens:
            if token not in table and token.strip() and "\t" not in token:
                table[token] = next_id
                next_id += 1
        return Vocabulary(table)

    def write(self, path: os.PathLike) -> None:
        lines = [f"{t}\t{i}" for t, i in sorted(self.token_to_id.items(), key=lambda kv: kv[1])]
        write_text_atomically(path, "\n".join(lines) + "\n")

    @property
    def size(self) -> int:
        return max(self.token_to_id.values()) + 1


@dataclass
class ModelSource:
    """A model to train and the files it came from."""

    model: ZipVoiceModel
    vocab: Vocabulary
    config_path: Path  # the config.json / model.json to copy on export
    folder: Optional[Path]  # the published folder (its vocoder is copied on export), None for a new model
    added_tokens: List[str]


def load_model_folder(folder: os.PathLike) -> ModelSource:
    """A published-layout folder (LuxTTS, ZipVoice, ZipVoice-Distill) as inference resolves it."""
    from ..hub import resolve_model
    from ..model.loading import load_acoustic_model

    path = Path(folder)
    if path.is_dir():
        # Training needs no vocoder, so a ZipVoice folder without one (inference would fetch Vocos) is fine here.
        weights = _first(path, ("model.safetensors", "model.pt"))
        config = _first(path, ("config.json", "model.json"))
        tokens = path / "tokens.txt"
        if weights is None or config is None or not tokens.is_file():
            raise ConfigError(f"{path} is not a model folder: it needs model.safetensors or model.pt, config.json "
                              "or model.json, and tokens.txt")
    else:
        files = resolve_model(os.fspath(folder))
        path, weights, config, tokens = Path(files.folder), files.checkpoint, Path(files.config), files.tokens
    model = load_acoustic_model(weights, config, tokens)
    return ModelSource(model, Vocabulary.read(tokens), config, path, [])


def config_file_name(config_path: Path) -> str:
    """The name inference looks for: model.json for a ZipVoice-layout config, else config.json."""
    return "model.json" if Path(config_path).name == "model.json" else "config.json"


def _first(folder: Path, names: Sequence[str]) -> Optional[Path]:
    return next((folder / n for n in names if (folder / n).is_file()), None)


def new_model(config_json: os.PathLike, tokens_txt: os.PathLike, distill: bool = False, seed: int = 0) -> ModelSource:
    """A freshly initialised model from a config.json (upstream layout) and a tokens.txt."""
    vocab = Vocabulary.read(tokens_txt)
    cfg = AcousticModelFile.from_json(config_json, vocab_size=vocab.size, pad_id=vocab.token_to_id[PAD_TOKEN]).model
    torch.manual_seed(seed)
    return ModelSource(ZipVoiceModel(cfg, distill=distill), vocab, Path(config_json), None, [])


def append_tokens(source: ModelSource, tokens: Sequence[str], seed: int = 0) -> ModelSource:
    """Add the tokens the model does not know, as new embedding rows after the old ones (old rows and ids
    unchanged). New rows start at the mean of the old rows plus noise of their spread. The model is changed in
    place (its embedding replaced); the returned source carries the grown vocabulary."""
    vocab = source.vocab.extended(tokens)
    added = [t for t in vocab.token_to_id if t not in source.vocab.token_to_id]
    if not added:
        return source
    model = source.model
    old = model.embed.weight.detach()
    gen = torch.Generator().manual_seed(seed)
    rows = vocab.size - old.shape[0]
    # One old row (a new model's pad alone) has no spread: then N(0, 1), nn.Embedding's own initialisation.
    mean, std = (old.mean(0), old.std(0)) if old.shape[0] > 1 else (torch.zeros_like(old[0]), torch.ones_like(old[0]))
    fresh = mean + std * torch.randn(rows, old.shape[1], generator=gen).to(old.dtype)
    embed = nn.Embedding(vocab.size, old.shape[1]).to(old.device, old.dtype)
    with torch.no_grad():
        embed.weight.copy_(torch.cat([old, fresh]))
    model.embed = embed
    model.config = dataclasses.replace(model.config, vocab_size=vocab.size)
    return dataclasses.replace(source, vocab=vocab, added_tokens=source.added_tokens + added)


def distill_student(teacher: ModelSource, seed: int = 0) -> ModelSource:
    """A ZipVoice-Distill student initialised from a base teacher (the guidance-scale embedding starts small)."""
    torch.manual_seed(seed)
    student = ZipVoiceModel(teacher.model.config, distill=True).to(teacher.model.device)
    missing, unexpected = student.load_state_dict(teacher.model.state_dict(), strict=False)
    if unexpected or any(not k.startswith("fm_decoder.guidance_scale_embed") for k in missing):
        raise ConfigError(f"teacher does not fit the student: missing {missing}, unexpected {unexpected}")
    with torch.no_grad():
        student.fm_decoder.guidance_scale_embed.weight.mul_(0.1)
    return dataclasses.replace(teacher, model=student)


def trainable(model: nn.Module, freeze: Sequence[str] = ()) -> List[nn.Parameter]:
    """Set requires_grad (False under any of the ``freeze`` name prefixes) and return the trainable ones."""
    params = []
    for name, p in model.named_parameters():
        frozen = any(name == f or name.startswith(f.rstrip(".") + ".") for f in freeze)
        p.requires_grad_(not frozen)
        if not frozen:
            params.append(p)
    if not params:
        raise ConfigError(f"freeze={list(freeze)} leaves nothing to train")
    return params


def write_model_folder(out: os.PathLike, state_dict: Dict[str, torch.Tensor], vocab: Vocabulary,
                       config_path: Path, base_folder: Optional[Path], vocoder: Optional[os.PathLike] = None) -> Path:
    """A folder LuxTTS.from_pretrained loads: model.safetensors, config.json (or model.json, as the base names
    it), tokens.txt and the base folder's (or ``vocoder``'s) vocoder/. Built aside and renamed into place."""
    from safetensors.torch import save_file

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with replaced_atomically(out, folder=True) as tmp:
        save_file({k: v.detach().float().contiguous().cpu() for k, v in state_dict.items()},
                  str(tmp / "model.safetensors"), metadata={"format": "pt"})
        shutil.copyfile(config_path, tmp / config_file_name(config_path))
        vocab.write(tmp / "tokens.txt")
        voc = Path(vocoder) if vocoder is not None else (base_folder / "vocoder" if base_folder else None)
        if voc is not None and voc.is_dir():
            shutil.copytree(voc, tmp / "vocoder")
    return out
