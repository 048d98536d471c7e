"""Checkpoints: one folder per saved step, written aside and renamed into place (never half-written), the
last K kept. Weights in safetensors; optimiser, scheduler and RNG states in a torch file read with
``weights_only=True``; counters and the data position in state.json."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
from pathlib import Path
from typing import Optional

import torch

from ..errors import CheckpointError
from ..fileio import replaced_atomically
from .modelio import config_file_name

_NAME = re.compile(r"^step-(\d{8})$")


def checkpoint_dir(run: Path) -> Path:
    return Path(run) / "checkpoints"


def list_checkpoints(run: os.PathLike) -> list:
    """Complete checkpoints of a run, oldest first."""
    root = checkpoint_dir(Path(run))
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if (m := _NAME.match(p.name)) and (p / "state.json").is_file()]
    return [p for _, p in sorted(found)]


def latest_checkpoint(run: os.PathLike) -> Optional[Path]:
    found = list_checkpoints(run)
    return found[-1] if found else None


def save_checkpoint(run: os.PathLike, step: int, model, ema, optimizer, scheduler, state: dict, vocab,
                    config_path: Path, keep: int, scaler=None) -> Path:
    root = checkpoint_dir(Path(run))
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step-{step:08d}"
    with replaced_atomically(final, folder=True, sync=True) as tmp:
        _write_checkpoint(tmp, step, model, ema, optimizer, scheduler, state, vocab, config_path, scaler)
    for old in list_checkpoints(run)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def _write_checkpoint(tmp: Path, step: int, model, ema, optimizer, scheduler, state: dict, vocab,
                      config_path: Path, scaler) -> None:
    from safetensors.torch import save_file

    save_file({k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}, str(tmp / "model.safetensors"))
    if ema is not None:
        save_file({k: v.detach().contiguous().cpu() for k, v in ema.state_dict().items()}, str(tmp / "ema.safetensors"))
    trainer = {
        "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
        "rng": {"torch": torch.get_rng_state(), "python": random.getstate()},
    }
    if scaler is not None:
        trainer["scaler"] = scaler.state_dict()
    torch.save(trainer, tmp / "trainer.pt")
    vocab.write(tmp / "tokens.txt")
    shutil.copyfile(config_path, tmp / config_file_name(config_path))
    (tmp / "state.json").write_text(json.dumps({**state, "step": step}, indent=1), encoding="utf-8")


def load_checkpoint(path: Path, model, ema, optimizer, scheduler, scaler=None) -> dict:
    """Restore everything saved by :func:`save_checkpoint`; returns state.json."""
    from safetensors.torch import load_file

    from ..weights import load_strict

    path = Path(path)
    try:
        load_strict(model, load_file(str(path / "model.safetensors")), what=f"checkpoint {path}")
        if ema is not None:
            if not (path / "ema.safetensors").is_file():
                raise CheckpointError(f"{path} has no EMA weights but this run keeps an EMA")
            load_strict(ema, load_file(str(path / "ema.safetensors")), what=f"checkpoint {path} (EMA)")
        trainer = torch.load(path / "trainer.pt", map_location="cpu", weights_only=True)
    except (OSError, RuntimeError) as e:
        raise CheckpointError(f"cannot resume from {path}: {e}") from None
    optimizer.load_state_dict(trainer["optimizer"])
    scheduler.load_state_dict(trainer["scheduler"])
    if scaler is not None and "scaler" in trainer:
        scaler.load_state_dict(trainer["scaler"])
    torch.set_rng_state(trainer["rng"]["torch"])
    py = trainer["rng"]["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    return json.loads((path / "state.json").read_text(encoding="utf-8"))
