"""The training loop: one function to read top to bottom.

Data parallel with torchrun (gloo on the CPU, NCCL on GPUs): every optimiser step consumes
``accumulate x world`` consecutive micro-batches of the epoch's batch list; rank r takes micro-batches
r, r + world, ... and loads only those. Gradients are averaged over all of them with one all-reduce, so the
update does not depend on how the global batch is split. Every random draw of a micro-batch comes from a
generator seeded by (seed, epoch, micro-batch index): resuming from a checkpoint replays exactly.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, List, Optional

import torch

from ..errors import InvalidOptionError, LuxTTSError
from .batching import Batch, collate, make_batches
from .checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from .config import TrainConfig, lr_factor
from .data import DatasetError, PreparedSet
from .distill import distill_loss, draw_distill
from .modelio import append_tokens, config_file_name, distill_student, load_model_folder, new_model, trainable, write_model_folder
from .objective import draw_flow_matching, flow_matching_loss


class TrainingDivergedError(LuxTTSError, RuntimeError):
    """The training loss became NaN or infinite."""


@dataclass
class FitResult:
    step: int
    losses: List[float] = field(default_factory=list)  # per optimiser step (mean over the global batch)
    valid_loss: Optional[float] = None
    last_checkpoint: Optional[Path] = None
    final_model: Optional[Path] = None


def _seed_of(*parts) -> int:
    return int.from_bytes(hashlib.sha256(":".join(map(str, parts)).encode()).digest()[:8], "little") >> 1


def _distributed(device: str):
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if world > 1:
        import torch.distributed as dist

        if not dist.is_initialized():
            nccl = device.startswith("cuda") and os.environ.get("LUXTTS_DIST_BACKEND", "nccl") != "gloo"
            dist.init_process_group("nccl" if nccl else "gloo")
    return rank, world


def build_models(cfg: TrainConfig, data: PreparedSet):
    """(student/model source, teacher or None) for the configured stage."""
    teacher = None
    if cfg.stage == "distill1":
        teacher_src = load_model_folder(cfg.teacher)
        if teacher_src.model.is_distill:
            raise InvalidOptionError(f"teacher {cfg.teacher} is a distilled model; stage distill1 needs a base ZipVoice")
        teacher = teacher_src.model
        source = load_model_folder(cfg.init) if cfg.init else distill_student(teacher_src, cfg.seed)
        return source, teacher
    source = load_model_folder(cfg.init) if cfg.init else new_model(cfg.model_config, cfg.tokens, seed=cfg.seed)
    if cfg.stage == "distill2" and not source.model.is_distill:
        raise InvalidOptionError(f"stage distill2 continues a distilled student; {cfg.init} is a base model")
    if cfg.add_tokens:
        source = append_tokens(source, data.token_strings(), seed=cfg.seed)
    return source, teacher


def micro_loss(cfg: TrainConfig, model, teacher, batch: Batch, device, key) -> torch.Tensor:
    gen = torch.Generator().manual_seed(_seed_of(cfg.seed, *key))
    feats, lens = batch.features, batch.features_lens
    if cfg.stage == "fm":
        d = draw_flow_matching(feats, lens, cfg.condition_drop_ratio, gen)
        return flow_matching_loss(model, batch.tokens, feats.to(device), lens.to(device), d.noise.to(device),
                                  d.t.to(device), d.speech_condition_mask.to(device), d.text_dropped.to(device)).loss
    d = draw_distill(feats, lens, 1 if cfg.stage == "distill1" else 2, random.Random(_seed_of(cfg.seed, *key)), gen)
    return distill_loss(model, teacher, batch.tokens, feats.to(device), lens.to(device), d.x0.to(device),
                        d.speech_condition_mask.to(device), d.t_value, d.delta_fix, d.delta_ema,
                        d.guidance_scale.to(device)).loss


def _all_reduce_mean(tensors: List[torch.Tensor], world: int) -> None:
    if world == 1 or not tensors:
        return
    import torch.distributed as dist

    flat = torch.cat([t.reshape(-1) for t in tensors])
    dist.all_reduce(flat)
    flat /= world
    offset = 0
    for t in tensors:
        t.copy_(flat[offset: offset + t.numel()].view_as(t))
        offset += t.numel()


def _usable(data: PreparedSet, split: str, vocab) -> List[int]:
    return [i for i in data.split(split) if any(t in vocab.token_to_id for t in data.utterances[i].tokens)]


def validate(cfg, model, teacher, data, vocab, device) -> Optional[float]:
    """Frame-weighted mean loss over the held-out split with fixed draws; None when there is none."""
    items = _usable(data, "valid", vocab)
    if not items:
        return None
    lengths = [u.frames for u in data.utterances]
    total, frames = 0.0, 0
    with torch.no_grad():
        for k, b in enumerate(make_batches(lengths, items, cfg.max_frames, cfg.seed, -1)):
            batch = collate(data, b, vocab.token_to_id)
            total += float(micro_loss(cfg, model, teacher, batch, device, ("valid", k))) * batch.frames
            frames += batch.frames
    return total / frames


def fit(cfg: TrainConfig, stop_after: Optional[int] = None, log: Callable[[str], None] = print) -> FitResult:
    """Train as ``cfg`` says, resuming from the run folder's latest checkpoint if there is one.
    ``stop_after``: leave after that step's checkpoint, as an interrupted run would (tests, time limits)."""
    rank, world = _distributed(cfg.device)
    device = torch.device(cfg.device if world == 1 or not cfg.device.startswith("cuda")
                          else f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}")
    run = Path(cfg.out)
    data = PreparedSet(cfg.data)
    source, teacher = build_models(cfg, data)
    model = source.model.to(device).train()
    params = trainable(model, cfg.freeze)
    ema = None
    if cfg.ema_decay > 0:
        ema = copy.deepcopy(model).eval()
        ema.requires_grad_(False)
    if teacher is not None:
        teacher = teacher.to(device).eval().requires_grad_(False)
    if cfg.stage == "distill2":
        teacher = ema
    opt = torch.optim.AdamW(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, cfg))
    scaler = torch.amp.GradScaler("cuda") if cfg.precision == "fp16" and device.type == "cuda" else None
    autocast_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(cfg.precision)

    state = {"epoch": 0, "position": 0, "added_tokens": source.added_tokens,
             "base_folder": str(source.folder) if source.folder else None, "config_name": config_file_name(source.config_path)}
    step = 0
    resume = latest_checkpoint(run)
    if resume is not None:
        state = load_checkpoint(resume, model, ema, opt, sched, scaler)
        step = state["step"]
        if rank == 0:
            log(f"resumed from {resume} at step {step}")
    if rank == 0:
        run.mkdir(parents=True, exist_ok=True)
        (run / "train_config.json").write_text(cfg.to_json(), encoding="utf-8")

    writer = None
    if cfg.tensorboard and rank == 0:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise InvalidOptionError("TensorBoard logging needs the [train] extra (pip install 'luxtts[train]'); "
                                     "or pass --no-tensorboard") from None
        writer = SummaryWriter(str(run / "tensorboard"))

    vocab = source.vocab
    items = _usable(data, "train", vocab)
    if not items:
        raise DatasetError(f"{cfg.data} has no training utterance with a token the model knows")
    lengths = [u.frames for u in data.utterances]
    per_step = cfg.accumulate * world
    result = FitResult(step)
    last_save = None
    clock, frames_seen = time.perf_counter(), 0
    while step < cfg.steps:
        batches = make_batches(lengths, items, cfg.max_frames, cfg.seed, state["epoch"])
        steps_in_epoch = len(batches) // per_step
        if steps_in_epoch == 0:
            raise DatasetError(f"{len(batches)} batches per epoch is fewer than accumulate x world = {per_step}: "
                               "lower --max-frames or add data")
        while state["position"] < steps_in_epoch and step < cfg.steps:
            opt.zero_grad(set_to_none=True)
            loss_sum = torch.zeros(2, device=device)  # (sum of micro-batch losses, frames): all-reduced with the grads
            for j in range(cfg.accumulate):
                index = state["position"] * per_step + j * world + rank
                batch = collate(data, batches[index], vocab.token_to_id)
                with torch.autocast(device.type, dtype=autocast_dtype or torch.float32, enabled=autocast_dtype is not None):
                    loss = micro_loss(cfg, model, teacher, batch, device, (state["epoch"], index))
                scaled = loss / cfg.accumulate
                (scaler.scale(scaled) if scaler else scaled).backward()
                loss_sum += torch.tensor([float(loss.detach()), batch.frames], device=device)
            if scaler:
                scaler.unscale_(opt)
            grads = []
            for p in params:
                if p.grad is None:
                    p.grad = torch.zeros_like(p)
                grads.append(p.grad)
            _all_reduce_mean(grads + [loss_sum], world)
            if not math.isfinite(float(loss_sum[0])) and scaler is None:
                raise TrainingDivergedError(
                    f"the loss is {float(loss_sum[0]) / cfg.accumulate} at step {step + 1}: lower --lr, raise "
                    f"--warmup-steps, or resume from the last checkpoint ({last_save or 'none yet'})")
            norm = torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip if cfg.grad_clip > 0 else math.inf)
            lr = opt.param_groups[0]["lr"]
            if scaler:
                scaler.step(opt)
                scaler.update()
            else:
                opt.step()
            sched.step()
            if ema is not None:
                with torch.no_grad():
                    for pe, pm in zip(ema.parameters(), model.parameters()):
                        pe.lerp_(pm.detach(), 1 - cfg.ema_decay)
            step += 1
            state["position"] += 1
            mean_loss = float(loss_sum[0]) / cfg.accumulate
            result.losses.append(mean_loss)
            frames_seen += int(loss_sum[1]) * world
            if rank == 0 and (step % cfg.log_every == 0 or step == cfg.steps):
                elapsed = time.perf_counter() - clock
                fps = frames_seen / max(elapsed, 1e-9)
                log(f"step {step}/{cfg.steps} loss {mean_loss:.4f} lr {lr:.3g} grad_norm {float(norm):.3f} "
                    f"frames/s {fps:.0f}")
                if writer:
                    for name, value in (("train/loss", mean_loss), ("train/lr", lr), ("train/grad_norm", float(norm)),
                                        ("train/frames_per_second", fps)):
                        writer.add_scalar(name, value, step)
                clock, frames_seen = time.perf_counter(), 0
            if cfg.valid_every and step % cfg.valid_every == 0 and step < cfg.steps:
                _valid(cfg, model, ema, teacher, data, vocab, device, step, rank, writer, log, result)
            if step % cfg.save_every == 0 or step == cfg.steps or step == stop_after:
                if rank == 0:
                    last_save = save_checkpoint(run, step, model, ema, opt, sched, state, vocab,
                                                source.config_path, cfg.keep, scaler)
                _barrier(world)
            if stop_after is not None and step >= stop_after:
                result.step, result.last_checkpoint = step, last_save
                return result
        state["epoch"] += 1
        state["position"] = 0
    _valid(cfg, model, ema, teacher, data, vocab, device, step, rank, writer, log, result)
    if rank == 0:
        final = ema if ema is not None else model
        result.final_model = write_model_folder(run / "final", final.state_dict(), vocab, source.config_path,
                                                source.folder)
        log(f"wrote {result.final_model}")
    if writer:
        writer.close()
    result.step, result.last_checkpoint = step, last_save
    return result


def _valid(cfg, model, ema, teacher, data, vocab, device, step, rank, writer, log, result) -> None:
    if rank != 0:
        return
    loss = validate(cfg, model, teacher, data, vocab, device)
    if loss is None:
        return
    result.valid_loss = loss
    message = f"step {step} valid_loss {loss:.4f}"
    if writer:
        writer.add_scalar("valid/loss", loss, step)
    if ema is not None and cfg.stage != "distill2":
        ema_loss = validate(cfg, ema, teacher, data, vocab, device)
        message += f" valid_loss_ema {ema_loss:.4f}"
        if writer:
            writer.add_scalar("valid/loss_ema", ema_loss, step)
    log(message)


def _barrier(world: int) -> None:
    if world > 1:
        import torch.distributed as dist

        dist.barrier()


def export_checkpoint(checkpoint: os.PathLike, out: os.PathLike, weights: str = "ema",
                      vocoder: Optional[os.PathLike] = None) -> Path:
    """Write a checkpoint as a model folder LuxTTS.from_pretrained loads (``weights``: "ema" or "model")."""
    from safetensors.torch import load_file

    from .modelio import Vocabulary

    ckpt = Path(checkpoint)
    if (ckpt / "checkpoints").is_dir():
        ckpt = latest_checkpoint(ckpt) or ckpt
    if not (ckpt / "state.json").is_file():
        raise InvalidOptionError(f"{checkpoint} is not a training checkpoint (no state.json) nor a run folder with one")
    if weights not in ("ema", "model"):
        raise InvalidOptionError(f"weights must be 'ema' or 'model', got {weights!r}")
    state = json.loads((ckpt / "state.json").read_text(encoding="utf-8"))
    file = ckpt / f"{weights}.safetensors"
    if not file.is_file():
        if weights == "ema":
            file = ckpt / "model.safetensors"  # a run without EMA
        else:
            raise InvalidOptionError(f"{ckpt} has no {file.name}")
    base = Path(state["base_folder"]) if state.get("base_folder") else None
    if vocoder is None and (base is None or not (base / "vocoder").is_dir()):
        raise InvalidOptionError("the run started from no model folder with a vocoder/: pass --vocoder FOLDER")
    return write_model_folder(out, load_file(str(file)), Vocabulary.read(ckpt / "tokens.txt"),
                              ckpt / state["config_name"], base, vocoder)
