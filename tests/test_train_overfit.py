"""Overfitting a fixed batch: the flow-matching loss falls far below its start, and the model's sampled features
for the hidden frames move toward the target's."""

import json

import torch

from conftest import GOLDEN_DIR, golden_spec, load_golden
from luxtts.train.modelio import new_model, trainable
from luxtts.train.objective import decoder_velocity, flow_matching_loss, hidden_span_mask, train_text_condition

STEPS = 100
# Smaller than the golden models (one layer per stack): a step costs ~0.2 s on a busy CPU.
TINY = dict(fm_decoder_downsampling_factor=[1, 2, 1], fm_decoder_num_layers=[1, 1, 1],
            fm_decoder_cnn_module_kernel=[7, 5, 7], fm_decoder_dim=32, fm_decoder_feedforward_dim=48,
            text_encoder_num_layers=1, text_encoder_dim=32, text_encoder_feedforward_dim=32)
FRAMES = 64
TOKENS = 16


def _one_utterance():
    """The first golden utterance with at least FRAMES real frames and TOKENS tokens, cut to those, as a batch
    of one (real log-mel frames x 0.1), whatever batch its case holds."""
    for case in golden_spec("train_objective")["cases"]:
        g = load_golden("train_objective", case["file"])
        for i, n in enumerate(g["features_lens"].tolist()):
            if n >= FRAMES and len(case["tokens"][i]) >= TOKENS:
                return [case["tokens"][i][:TOKENS]], g["features"][i : i + 1, :FRAMES].contiguous()
    raise AssertionError(f"no golden train_objective utterance has {FRAMES} frames and {TOKENS} tokens")


def _sample_error(model, tokens, feats, lens, mask, steps=8):
    """MSE on the hidden frames of an Euler sample conditioned on the visible ones."""
    gen = torch.Generator().manual_seed(7)
    x = torch.randn(feats.shape, generator=gen)
    speech = torch.where(mask[:, :, None], 0.0, feats)
    with torch.no_grad():
        text, pad = train_text_condition(model, tokens, lens, feats.shape[1])
        for k in range(steps):
            x = x + decoder_velocity(model, torch.tensor(k / steps), x, text, speech, pad) / steps
    return (x[mask] - feats[mask]).square().mean().item()


def test_loss_on_a_fixed_batch_falls_well_below_its_start(tmp_path):
    tokens, feats = _one_utterance()
    lens = torch.tensor([FRAMES])
    config = json.loads((GOLDEN_DIR / "model_base" / "config.json").read_text())
    config["model"].update(TINY)
    (tmp_path / "config.json").write_text(json.dumps(config))
    model = new_model(tmp_path / "config.json", GOLDEN_DIR / "model_base" / "tokens.txt", seed=0).model
    opt = torch.optim.AdamW(trainable(model), lr=3e-3, weight_decay=0.0)
    gen = torch.Generator().manual_seed(0)
    # A few fixed draws, cycled: the model can memorise the batch for each of them.
    draws = []
    for _ in range(4):
        noise = torch.randn(feats.shape, generator=gen)
        t = torch.rand((1, 1, 1), generator=gen)
        mask = hidden_span_mask(lens, FRAMES, torch.rand(1, generator=gen) * 0.3 + 0.7, torch.rand(1, generator=gen))
        draws.append((noise, t, mask))
    eval_mask = hidden_span_mask(lens, FRAMES, torch.tensor([0.7]), torch.tensor([1.0]))  # the last 70 %

    def mean_loss():
        with torch.no_grad():
            return sum(flow_matching_loss(model, tokens, feats, lens, *d).loss.item() for d in draws) / len(draws)

    start, sample_before = mean_loss(), _sample_error(model, tokens, feats, lens, eval_mask)
    for step in range(STEPS):
        loss = flow_matching_loss(model, tokens, feats, lens, *draws[step % len(draws)]).loss
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    end, sample_after = mean_loss(), _sample_error(model, tokens, feats, lens, eval_mask)
    # Measured on the shared golden set: loss 2.89 -> 0.74, sample error 2.72 -> 0.83 (the mean, then the
    # batch, is learnt).
    assert end < 0.3 * start, (start, end)
    assert sample_after < 0.4 * sample_before, (sample_before, sample_after)
