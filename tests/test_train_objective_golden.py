"""The training objectives against upstream ZipVoice's (golden train_objective/): flow matching and both
distillation stages, on the modules inference runs, with gradients enabled (the training path)."""

import pytest
import torch

from conftest import GOLDEN_DIR, golden_cases, golden_spec, load_golden
from luxtts.model.loading import load_acoustic_model
from luxtts.train.distill import distill_loss
from luxtts.train.objective import flow_matching_loss

SUBDIR = "train_objective"
TOL = {"text_condition": 1e-5, "vt": 1e-4, "x": 1e-4, "loss_rel": 1e-5}


def _trainable(name):
    folder = GOLDEN_DIR / name
    model = load_acoustic_model(folder / "model.pt", folder / "config.json", folder / "tokens.txt")
    for p in model.parameters():
        p.requires_grad_(True)
    return model


@pytest.fixture(scope="module")
def models():
    spec = golden_spec(SUBDIR)
    return _trainable(spec["teacher"]), _trainable(spec["student"])


def _max_err(a, b):
    return (a.detach() - b).abs().max().item()


@pytest.mark.parametrize("case", golden_cases(SUBDIR))
def test_flow_matching_matches_upstream(models, case):
    teacher, _ = models
    g = load_golden(SUBDIR, case["file"])
    out = flow_matching_loss(teacher, case["tokens"], g["features"], g["features_lens"], g["noise"], g["t"],
                             g["speech_condition_mask"])
    assert torch.equal(out.padding_mask, g["padding_mask"])
    assert _max_err(out.text_condition, g["text_condition"]) <= TOL["text_condition"]
    assert _max_err(out.velocity, g["vt"]) <= TOL["vt"]
    assert out.loss.item() == pytest.approx(g["fm_loss"].item(), rel=TOL["loss_rel"])
    assert out.loss.item() == pytest.approx(case["fm_loss"], rel=TOL["loss_rel"])
    # The loss is differentiable through every module (the training path, not the inference fast path).
    teacher.zero_grad()
    out.loss.backward()
    missing = [n for n, p in teacher.named_parameters() if p.grad is None]
    assert missing == []


@pytest.mark.parametrize("stage", [1, 2])
@pytest.mark.parametrize("case", golden_cases(SUBDIR))
def test_distillation_matches_upstream(models, case, stage):
    base, student = models
    teacher = base if stage == 1 else student
    g = load_golden(SUBDIR, case["file"])
    key = f"stage{stage}"
    out = distill_loss(student, teacher, case["tokens"], g["features"], g["features_lens"], g["distill_x0"],
                       g["speech_condition_mask"], case["t_value"], case["t_delta_fix"], case["t_delta_ema"],
                       g[f"{key}_guidance_scale"])
    assert _max_err(out.xt, g["distill_xt"]) <= TOL["x"]
    assert _max_err(out.teacher_x_mid, g[f"{key}_teacher_x_mid"]) <= TOL["x"]
    assert _max_err(out.target_x1, g[f"{key}_target_x1"]) <= TOL["x"]
    assert _max_err(out.pred_x1, g[f"{key}_pred_x1"]) <= TOL["x"]
    assert out.loss.item() == pytest.approx(g[f"{key}_loss"].item(), rel=TOL["loss_rel"])
    assert out.loss.requires_grad and not out.target_x1.requires_grad


def test_fast_path_follows_weights_updated_in_place():
    """The inference fast path caches folded biases; after an optimiser step (in-place updates) it must give what
    the differentiable path gives, not the stale values."""
    spec = golden_spec(SUBDIR)
    model = _trainable(spec["student"])
    case = golden_cases(SUBDIR)[0].values[0]
    g = load_golden(SUBDIR, case["file"])
    tokens, feats, lens = case["tokens"], g["features"], g["features_lens"]
    from luxtts.train.objective import decoder_velocity, train_text_condition

    guidance = torch.ones(feats.shape[0])  # one scale per item of whatever batch the case holds

    def velocity(grad: bool):
        with torch.set_grad_enabled(grad):
            text, pad = train_text_condition(model, tokens, lens, feats.shape[1])
            return decoder_velocity(model, g["t"], g["noise"], text, feats, pad, guidance).detach()

    before = velocity(False)  # fills the caches
    assert _max_err(velocity(True), before) <= 1e-5
    opt = torch.optim.SGD(model.parameters(), lr=1e-2)
    out = flow_matching_loss(model, tokens, feats, lens, g["noise"], g["t"], g["speech_condition_mask"])
    out.loss.backward()
    opt.step()
    fast, exact = velocity(False), velocity(True)
    assert _max_err(fast, before) > 1e-3  # the weights did move
    assert _max_err(fast, exact) <= 1e-5
