"""ZipVoice / ZipVoice-Distill against the reference outputs in GOLDEN_DIR/model_distill and model_base."""

from __future__ import annotations

import pytest
import torch

from conftest import GOLDEN_DIR, golden_cases, golden_spec, load_golden
from luxtts.model import ZipVoiceModel, load_acoustic_model

# Tolerances (max abs error, float32) from GOLDEN_DIR/README.md.
TOL_TEXT_CONDITION = 1e-5
TOL_VELOCITY = 1e-4
TOL_STATE = 1e-4
TOL_FEATURES_OUT = 2e-4
TOL_TIME = 1e-7

SUBDIRS = ("model_distill", "model_base")
DISTILLED_CLASSES = {"ZipVoiceDistill": True, "ZipVoice": False}

_models: dict = {}


def model_for(subdir: str) -> ZipVoiceModel:
    if subdir not in _models:
        folder = GOLDEN_DIR / subdir
        _models[subdir] = load_acoustic_model(folder / "model.pt", folder / "config.json", folder / "tokens.txt")
    return _models[subdir]


def max_err(got: torch.Tensor, want: torch.Tensor, what: str) -> float:
    assert tuple(got.shape) == tuple(want.shape), f"{what}: shape {tuple(got.shape)} != {tuple(want.shape)}"
    assert torch.isfinite(got).all(), f"{what}: non-finite values"
    return (got.float() - want.float()).abs().max().item()


def all_cases():
    return [
        pytest.param(subdir, p.values[0], id=f"{subdir}-{p.id}") for subdir in SUBDIRS for p in golden_cases(subdir)
    ]


@pytest.mark.parametrize("subdir", SUBDIRS)
def test_model_kind_detected_from_weights(subdir):
    want = DISTILLED_CLASSES[golden_spec(subdir)["model_class"]]
    assert model_for(subdir).is_distill is want


@pytest.mark.parametrize("subdir,case", all_cases())
def test_text_condition(subdir, case):
    g = load_golden(subdir, case["file"])
    text_cond, padding_mask = model_for(subdir).text_condition(
        case["tokens"], case["prompt_tokens"], g["prompt_features_lens"], case["speed"]
    )
    assert torch.equal(padding_mask, g["padding_mask"])
    assert max_err(text_cond, g["text_condition"], "text_condition") <= TOL_TEXT_CONDITION


@pytest.mark.parametrize("subdir,case", all_cases())
def test_velocity_at_t_0_3(subdir, case):
    g = load_golden(subdir, case["file"])
    v = model_for(subdir).velocity(
        0.3, g["noise"], g["text_condition"], g["speech_condition"], g["padding_mask"], case["guidance_scale"]
    )
    assert max_err(v, g["velocity_t0_3"], "velocity_t0_3") <= TOL_VELOCITY


@pytest.mark.parametrize("subdir,case", all_cases())
def test_sample_steps_and_features(subdir, case):
    g = load_golden(subdir, case["file"])
    steps = []
    features, lens = model_for(subdir).sample(
        case["tokens"], case["prompt_tokens"], g["prompt_features"], g["prompt_features_lens"],
        speed=case["speed"], t_shift=case["t_shift"], guidance_scale=case["guidance_scale"],
        num_step=case["num_step"], noise=g["noise"],
        step_callback=lambda t, x, v: steps.append((t.clone(), x.clone(), v.clone())),
    )
    assert len(steps) == case["num_step"]
    for k, (t, x, v) in enumerate(steps):
        assert abs(t.item() - g[f"step{k}_t"].item()) <= TOL_TIME, f"step{k}_t"
        assert max_err(x, g[f"step{k}_x"], f"step{k}_x") <= TOL_STATE
        assert max_err(v, g[f"step{k}_v"], f"step{k}_v") <= TOL_VELOCITY
    assert torch.equal(lens.cpu(), g["features_out_lens"])
    assert max_err(features, g["features_out"], "features_out") <= TOL_FEATURES_OUT
