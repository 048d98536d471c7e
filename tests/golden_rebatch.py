"""A second golden folder with the same layout and other batch sizes, made from the saved tensors alone.

Only what stays exact without the upstream code is written: an item's outputs do not depend on the other items
of its batch (eval mode, per-item padding masks), so a case may be re-batched by repeating its items or sliced to
one of them, keeping the case's padded length. Batch-mean losses are recomputed from the saved per-item tensors by
their definitions in the golden README. Folders whose cases hold one utterance end to end (features, pipeline,
tokenizer) are linked unchanged.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable, Dict, List

import torch
from safetensors.torch import load_file, save_file

Tensors = Dict[str, torch.Tensor]


def valid_mean(values: torch.Tensor, hidden: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
    """Mean of (B, T, F) values over the frames both hidden from the speech condition and real."""
    keep = hidden & ~padding
    return values[keep].mean()


def objective_losses(g: Tensors, case: dict) -> Dict[str, torch.Tensor]:
    """train_objective's three losses, from its saved tensors (README: flow matching and both stages)."""
    hidden, padding = g["speech_condition_mask"], g["padding_mask"]
    losses = {"fm_loss": valid_mean((g["vt"] - (g["features"] - g["noise"])).square(), hidden, padding)}
    span = case["t_delta_fix"] + case["t_delta_ema"]
    for stage in ("stage1", "stage2"):
        xt = g["distill_xt"]
        diff = (g[f"{stage}_pred_x1"] - xt) - (g[f"{stage}_target_x1"] - xt)
        losses[f"{stage}_loss"] = valid_mean(diff.square() / span**2, hidden, padding)
    return losses


def _batch_of(g: Tensors, case: dict) -> int:
    if "batch" in case:
        return int(case["batch"])
    return int(next(t.shape[0] for k, t in sorted(g.items()) if k in ("mel", "audio_in", "features")))


def select_items(g: Tensors, case: dict, items: List[int]) -> tuple:
    """The case with only ``items`` of its batch (repeats allowed): every tensor and per-item list whose first
    dimension is the batch is indexed; scalars and shared tensors are kept."""
    b = _batch_of(g, case)
    index = torch.tensor(items)
    tensors = {k: (t.index_select(0, index) if t.dim() >= 1 and t.shape[0] == b else t) for k, t in g.items()}
    out = dict(case)
    for key, value in case.items():
        if isinstance(value, list) and len(value) == b and all(isinstance(v, list) for v in value):
            out[key] = [value[i] for i in items]
    if "batch" in case:
        out["batch"] = len(items)
    return tensors, out


def grown(b: int) -> List[int]:
    """One more item than the batch had, cycling through its items: 1 -> 2, 2 -> 3, 3 -> 4."""
    return [i % b for i in range(b + 1)]


def _rebatch_objective(g: Tensors, case: dict, items: List[int]) -> tuple:
    tensors, out = select_items(g, case, items)
    for key, value in objective_losses(tensors, out).items():
        tensors[key] = value.reshape(g[key].shape)
        out[key] = value.item()
    return tensors, out


# folder -> how to re-batch one of its cases, and whether to add a batch-1 slice (the last item of the first
# case with several items: a shorter, padded utterance alone). Only train_objective is sliced: its inputs
# carry the padded length, so an item alone sees the same padding. A model case's length comes from its
# longest item's tokens, so a slice of a shorter item would be sampled at another length, whose outputs only
# upstream's code could give; repeating items keeps the longest one, hence the length.
REBATCH: Dict[str, tuple] = {
    "model_base": (select_items, False),
    "model_distill": (select_items, False),
    "train_objective": (_rebatch_objective, True),
    "vocoder_24k": (select_items, False),
    "vocoder_48k": (select_items, False),
}


def _link_tree(src: Path, dest: Path) -> None:
    for path in src.iterdir():
        target = dest / path.name
        if path.is_dir():
            target.mkdir()
            _link_tree(path, target)
        else:
            os.symlink(path.resolve(), target)


def _rebatch_folder(src: Path, dest: Path, rebatch: Callable, slices: bool) -> None:
    spec = json.loads((src / "cases.json").read_text(encoding="utf-8"))
    cases, sliced = [], None
    for case in spec["cases"]:
        g = load_file(str(src / case["file"]))
        b = _batch_of(g, case)
        tensors, out = rebatch(g, case, grown(b))
        (dest / case["file"]).unlink()
        save_file({k: t.contiguous() for k, t in tensors.items()}, str(dest / case["file"]))
        cases.append(out)
        if slices and sliced is None and b > 1:
            tensors, out = rebatch(g, case, [b - 1])
            out["file"] = f"slice_{case['file']}"
            save_file({k: t.contiguous() for k, t in tensors.items()}, str(dest / out["file"]))
            sliced = out
    spec["cases"] = cases + ([sliced] if sliced else [])
    (dest / "cases.json").unlink()
    (dest / "cases.json").write_text(json.dumps(spec), encoding="utf-8")


def build_rebatched(golden: Path, dest: Path) -> Path:
    """A copy of ``golden`` at ``dest`` (files linked) with the REBATCH folders' cases re-batched."""
    dest.mkdir(parents=True)
    _link_tree(golden, dest)
    for name, (rebatch, slices) in REBATCH.items():
        if (golden / name / "cases.json").is_file():
            _rebatch_folder(golden / name, dest / name, rebatch, slices)
    return dest
