"""Properties of the acoustic model and sampler on tiny random models (no golden files needed)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from luxtts.config import ModelConfig
from luxtts.errors import InvalidOptionError
from luxtts.model import ZipVoiceModel, euler_sample, time_grid

FEAT = 6
VOCAB = 12
TINY = ModelConfig(
    fm_decoder_downsampling_factor=(1, 2, 4, 2, 1), fm_decoder_num_layers=(1, 1, 1, 1, 1),
    fm_decoder_cnn_module_kernel=(5, 3, 3, 3, 5), fm_decoder_feedforward_dim=32, fm_decoder_num_heads=2,
    fm_decoder_dim=16, text_encoder_num_layers=1, text_encoder_feedforward_dim=16, text_encoder_cnn_module_kernel=3,
    text_encoder_num_heads=2, text_encoder_dim=16, query_head_dim=4, value_head_dim=4, pos_head_dim=2, pos_dim=8,
    time_embed_dim=8, text_embed_dim=8, feat_dim=FEAT, vocab_size=VOCAB, pad_id=0,
)
LARGEST_DOWNSAMPLING = max(TINY.fm_decoder_downsampling_factor)

_models: dict = {}


def tiny_model(distill: bool) -> ZipVoiceModel:
    if distill not in _models:
        torch.manual_seed(1234 + distill)
        model = ZipVoiceModel(TINY, distill=distill).eval()
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.1 * torch.randn_like(p))
        _models[distill] = model
    return _models[distill]


def expected_frames(prompt_frames: int, prompt_tokens: int, tokens: int, speed: float) -> int:
    """The duration rule evaluated step by step in float32, independently of the model code."""
    f32 = np.float32
    generated = np.ceil(f32(prompt_frames) / f32(prompt_tokens) * f32(tokens) / f32(speed))
    return prompt_frames + int(generated)


def random_tokens(rng: np.random.Generator, n: int) -> list:
    return [int(v) for v in rng.integers(1, VOCAB, size=n)]


def padded_prompts(rng: np.random.Generator, lens) -> torch.Tensor:
    out = torch.zeros(len(lens), max(lens), FEAT)
    for i, n in enumerate(lens):
        out[i, :n] = torch.from_numpy(rng.standard_normal((n, FEAT)).astype(np.float32))
    return out


item = st.tuples(st.integers(1, 60), st.integers(1, 12), st.integers(0, 15))


@settings(max_examples=30, deadline=None)
@given(items=st.lists(item, min_size=1, max_size=3), speed=st.floats(0.3, 3.0), seed=st.integers(0, 2**16))
def test_output_lengths_follow_duration_rule(items, speed, seed):
    rng = np.random.default_rng(seed)
    prompt_lens = [p for p, _, _ in items]
    prompt_tokens = [random_tokens(rng, n) for _, n, _ in items]
    tokens = [random_tokens(rng, n) for _, _, n in items]
    totals = [expected_frames(p, n_p, n_t, speed) for p, n_p, n_t in items]
    model = tiny_model(distill=True)

    _, padding_mask = model.text_condition(tokens, prompt_tokens, torch.tensor(prompt_lens), speed)
    assert padding_mask.shape == (len(items), max(totals))
    assert (~padding_mask).sum(dim=1).tolist() == totals

    features, lens = model.sample(
        tokens, prompt_tokens, padded_prompts(rng, prompt_lens), torch.tensor(prompt_lens), speed=speed,
        num_step=1, generator=torch.Generator().manual_seed(seed),
    )
    want = [t - p for t, p in zip(totals, prompt_lens)]
    assert lens.dtype == torch.int64 and lens.tolist() == want
    assert features.shape == (len(items), max(want), FEAT)
    for i, n in enumerate(want):
        assert torch.count_nonzero(features[i, n:]) == 0
        assert torch.isfinite(features[i, :n]).all()


@settings(max_examples=15, deadline=None)
@given(items=st.lists(item, min_size=2, max_size=3), speed=st.floats(0.5, 2.0), seed=st.integers(0, 2**16))
def test_text_condition_of_a_batch_equals_items_alone(items, speed, seed):
    rng = np.random.default_rng(seed)
    prompt_lens = [p for p, _, _ in items]
    prompt_tokens = [random_tokens(rng, n) for _, n, _ in items]
    tokens = [random_tokens(rng, n) for _, _, n in items]
    model = tiny_model(distill=False)
    batch, mask = model.text_condition(tokens, prompt_tokens, torch.tensor(prompt_lens), speed)
    for i in range(len(items)):
        alone, alone_mask = model.text_condition(
            [tokens[i]], [prompt_tokens[i]], torch.tensor([prompt_lens[i]]), speed
        )
        n = alone.shape[1]
        assert not alone_mask.any() and not mask[i, :n].any() and mask[i, n:].all()
        torch.testing.assert_close(batch[i, :n], alone[0], atol=1e-6, rtol=0)


@pytest.mark.parametrize("distill,guidance", [(True, 3.0), (False, 1.0), (False, 0.0)])
@settings(max_examples=6, deadline=None)
@given(
    spec=st.lists(
        st.tuples(st.integers(1, 6), st.sampled_from([1, 2, 4]), st.integers(1, 3)), min_size=2, max_size=2
    ),
    seed=st.integers(0, 2**16),
)
def test_batch_of_two_equals_each_alone(distill, guidance, spec, seed):
    """Batched sampling gives each item what it gets alone.

    As in the reference model, a padding frame that shares a downsampling group with an item's last frames
    takes part in that group's average, so the equality is exact only when every item's frame count is a
    multiple of the largest downsampling factor; the items here are built that way (and have different lengths).
    """
    rng = np.random.default_rng(seed)
    # prompt frames 4a, n_p prompt tokens with n_p | 4, n_p * b target tokens -> 4a(1 + b) frames in all.
    prompt_lens = [LARGEST_DOWNSAMPLING * a for a, _, _ in spec]
    prompt_tokens = [random_tokens(rng, n_p) for _, n_p, _ in spec]
    tokens = [random_tokens(rng, n_p * b) for _, n_p, b in spec]
    totals = [expected_frames(p, len(pt), len(t), 1.0) for p, pt, t in zip(prompt_lens, prompt_tokens, tokens)]
    assert all(t % LARGEST_DOWNSAMPLING == 0 for t in totals)
    assume(totals[0] != totals[1])
    prompts = padded_prompts(rng, prompt_lens)
    noise = torch.from_numpy(rng.standard_normal((2, max(totals), FEAT)).astype(np.float32))
    model = tiny_model(distill)
    kwargs = dict(speed=1.0, t_shift=0.5, guidance_scale=guidance, num_step=2)

    batch, batch_lens = model.sample(tokens, prompt_tokens, prompts, torch.tensor(prompt_lens), noise=noise, **kwargs)
    for i in range(2):
        alone, alone_lens = model.sample(
            [tokens[i]], [prompt_tokens[i]], prompts[i : i + 1, : prompt_lens[i]], torch.tensor([prompt_lens[i]]),
            noise=noise[i : i + 1, : totals[i]], **kwargs,
        )
        n = int(alone_lens[0])
        assert int(batch_lens[i]) == n
        torch.testing.assert_close(batch[i, :n], alone[0], atol=1e-5, rtol=0)


@pytest.mark.parametrize("t", [0.3, 0.7])
def test_classifier_free_guidance_combines_cond_and_uncond(t):
    """Base model: (1 + g') v(text, speech) - g' v(no text, speech if t <= 0.5), g' = 2g early and g late."""
    rng = np.random.default_rng(0)
    model = tiny_model(distill=False)
    x, text, speech = (torch.from_numpy(rng.standard_normal((1, 20, FEAT)).astype(np.float32)) for _ in range(3))
    speech[:, 8:] = 0
    g = 1.5
    cond = model.velocity(t, x, text, speech, None, 0.0)
    uncond = model.velocity(t, x, torch.zeros_like(text), speech if t <= 0.5 else torch.zeros_like(speech), None, 0.0)
    scale = 2 * g if t <= 0.5 else g
    want = (1 + scale) * cond - scale * uncond
    got = model.velocity(t, x, text, speech, None, g)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(cond, uncond, atol=1e-3)


def test_distilled_velocity_depends_on_guidance_scale():
    rng = np.random.default_rng(1)
    model = tiny_model(distill=True)
    x, text, speech = (torch.from_numpy(rng.standard_normal((1, 12, FEAT)).astype(np.float32)) for _ in range(3))
    v0 = model.velocity(0.4, x, text, speech, None, 0.0)
    v3 = model.velocity(0.4, x, text, speech, None, 3.0)
    assert not torch.allclose(v0, v3, atol=1e-4)


def test_sampling_is_deterministic_given_a_generator():
    model = tiny_model(distill=True)
    args = ([[1, 2, 3]], [[4, 5]], torch.randn(1, 9, FEAT), torch.tensor([9]))
    a, _ = model.sample(*args, generator=torch.Generator().manual_seed(7))
    b, _ = model.sample(*args, generator=torch.Generator().manual_seed(7))
    c, _ = model.sample(*args, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


@pytest.mark.parametrize("num_step,t_shift", [(1, 1.0), (4, 0.5), (7, 0.9), (16, 0.3)])
def test_time_grid(num_step, t_shift):
    t = time_grid(num_step, t_shift)
    assert t.dtype == torch.float32 and t.shape == (num_step + 1,)
    assert t[0].item() == 0.0 and t[-1].item() == 1.0
    assert bool((t[1:] > t[:-1]).all())
    for k in range(1, num_step):
        u = k / num_step
        assert math.isclose(t[k].item(), t_shift * u / (1 + (t_shift - 1) * u), abs_tol=1e-6)


def test_euler_steps_visit_the_grid_and_integrate_exactly_for_constant_velocity():
    x0 = torch.randn(2, 5, 3)
    drift = torch.randn(2, 5, 3)
    seen = []
    x1 = euler_sample(lambda t, x: drift, x0, num_step=5, t_shift=0.5, step_callback=lambda t, x, v: seen.append(t))
    torch.testing.assert_close(x1, x0 + drift, atol=1e-6, rtol=0)
    assert torch.equal(torch.stack(seen), time_grid(5, 0.5)[:-1])


@pytest.mark.parametrize(
    "change,match",
    [
        (dict(num_step=0), "num_step"),
        (dict(speed=0.0), "speed"),
        (dict(t_shift=-1.0), "t_shift"),
        (dict(guidance_scale=float("nan")), "guidance_scale"),
        (dict(prompt_tokens=[[]]), "prompt_tokens"),
        (dict(tokens=[[1, VOCAB]]), "vocabulary"),
        (dict(noise=torch.zeros(1, 3, FEAT)), "noise"),
        (dict(prompt_features=torch.zeros(1, 9, FEAT + 1)), "prompt_features"),
    ],
)
def test_bad_arguments_raise_named_errors(change, match):
    args = dict(tokens=[[1, 2, 3]], prompt_tokens=[[4, 5]], prompt_features=torch.zeros(1, 9, FEAT),
                prompt_features_lens=torch.tensor([9]))
    args.update(change)
    with pytest.raises(InvalidOptionError, match=match):
        tiny_model(distill=True).sample(**args)
