"""Distillation: one step lowers the loss, the guidance-scale input matters, both stages run end to end."""

import random

import torch

from conftest import GOLDEN_DIR, golden_spec, load_golden
from luxtts.train.config import TrainConfig
from luxtts.train.data import PrepareOptions, prepare
from luxtts.train.distill import distill_loss, draw_distill
from luxtts.train.loop import fit
from luxtts.train.modelio import distill_student, load_model_folder, trainable
from luxtts.train.objective import guided_velocity, train_text_condition
from train_data import make_clips


def _batch():
    case = golden_spec("train_objective")["cases"][0]
    g = load_golden("train_objective", case["file"])
    return case["tokens"], g["features"], g["features_lens"]


def test_one_distillation_step_lowers_the_loss_and_the_guidance_input_is_used():
    teacher = load_model_folder(GOLDEN_DIR / "model_base").model.requires_grad_(False)
    student = distill_student(load_model_folder(GOLDEN_DIR / "model_base"), seed=0).model
    params = trainable(student)
    tokens, feats, lens = _batch()
    d = draw_distill(feats, lens, 1, random.Random(3), torch.Generator().manual_seed(3))

    def loss():
        return distill_loss(student, teacher, tokens, feats, lens, d.x0, d.speech_condition_mask, d.t_value,
                            d.delta_fix, d.delta_ema, d.guidance_scale)

    before = loss()
    before.loss.backward()
    assert student.fm_decoder.guidance_scale_embed.weight.grad.abs().sum() > 0
    opt = torch.optim.Adam(params, lr=1e-4)
    opt.step()
    with torch.no_grad():
        after = loss()
    assert after.loss < before.loss * 0.999, (before.loss.item(), after.loss.item())

    # The student's output depends on the guidance scale it is given.
    per_item = (feats.shape[0], 1, 1)  # the case's batch, whatever it is
    with torch.no_grad():
        text, pad = train_text_condition(student, tokens, lens, feats.shape[1])
        v1 = guided_velocity(student, 0.5, d.x0, text, feats, pad, torch.full(per_item, 0.5))
        v2 = guided_velocity(student, 0.5, d.x0, text, feats, pad, torch.full(per_item, 2.5))
    assert (v1 - v2).abs().max() > 1e-3


def test_stage_one_then_stage_two_with_the_ema_teacher(tmp_path):
    base = GOLDEN_DIR / "model_base"
    prepare(make_clips(tmp_path / "raw", 4), tmp_path / "prep", PrepareOptions(progress=False))
    common = dict(data=str(tmp_path / "prep"), steps=2, max_frames=400, save_every=2, log_every=1,
                  warmup_steps=1, lr=1e-4, tensorboard=False)
    logs = []
    one = fit(TrainConfig(out=str(tmp_path / "s1"), stage="distill1", teacher=str(base), **common), log=logs.append)
    assert len(one.losses) == 2 and all(x == x for x in one.losses)
    # Stage 2 continues from the stage-1 student (its exported folder), with its EMA as the teacher.
    two = fit(TrainConfig(out=str(tmp_path / "s2"), stage="distill2", init=str(one.final_model), **common),
              log=logs.append)
    assert len(two.losses) == 2
    assert load_model_folder(two.final_model).model.is_distill
