"""The training loop: exact resume, data parallel = one process, export that speaks, new tokens, freezing."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from golden_model import build_luxtts_folder
from luxtts.train.config import TrainConfig
from luxtts.train.data import PrepareOptions, prepare
from luxtts.train.loop import export_checkpoint, fit
from luxtts.train.modelio import append_tokens, load_model_folder
from train_data import make_clips

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    model = build_luxtts_folder(root / "model")
    prepare(make_clips(root / "raw", 8), root / "prep",
            PrepareOptions(tokens=str(model / "tokens.txt"), valid_count=1, progress=False))
    return root, model


def _cfg(setup, out, **kw):
    root, model = setup
    base = dict(data=str(root / "prep"), out=str(out), init=str(model), steps=4, max_frames=500, save_every=2,
                log_every=1, warmup_steps=1, lr=1e-3, tensorboard=False)
    base.update(kw)
    return TrainConfig(**base)


def _weights(ckpt: Path) -> dict:
    out = {}
    for name in ("model", "ema"):
        out.update({f"{name}/{k}": v for k, v in load_file(str(ckpt / f"{name}.safetensors")).items()})
    out.update({f"opt/{k}": v for k, v in _flat(torch.load(ckpt / "trainer.pt", weights_only=True)["optimizer"]).items()})
    return out


def _flat(d, prefix=""):
    out = {}
    for k, v in (d.items() if isinstance(d, dict) else enumerate(d)):
        if isinstance(v, torch.Tensor):
            out[f"{prefix}{k}"] = v
        elif isinstance(v, (dict, list)):
            out.update(_flat(v, f"{prefix}{k}."))
    return out


def test_interrupted_and_resumed_run_is_bit_identical(setup, tmp_path):
    full = fit(_cfg(setup, tmp_path / "a", tensorboard=True), log=lambda s: None)
    first = fit(_cfg(setup, tmp_path / "b"), stop_after=2, log=lambda s: None)
    assert first.step == 2
    logs = []
    rest = fit(_cfg(setup, tmp_path / "b"), log=logs.append)
    assert any("resumed" in line for line in logs)
    assert full.losses[2:] == rest.losses
    a, b = _weights(full.last_checkpoint), _weights(rest.last_checkpoint)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    # keep=3 of steps 2 and 4, atomic names only, TensorBoard events written
    assert sorted(p.name for p in (tmp_path / "a" / "checkpoints").iterdir()) == ["step-00000002", "step-00000004"]
    assert list((tmp_path / "a" / "tensorboard").glob("events.*"))
    assert full.valid_loss is not None


def test_two_gloo_processes_make_the_same_update_as_one(setup, tmp_path):
    one = fit(_cfg(setup, tmp_path / "one", steps=1, accumulate=2, ema_decay=0.0), log=lambda s: None)
    root, model = setup
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{REPO / 'tests'}", "OMP_NUM_THREADS": "1",
           "LUXTTS_DIST_BACKEND": "gloo"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517",
           "-m", "luxtts", "train", "fit", str(root / "prep"), str(tmp_path / "two"), "--init", str(model),
           "--steps", "1", "--max-frames", "500", "--warmup-steps", "1", "--lr", "1e-3", "--ema-decay", "0",
           "--no-tensorboard"]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert out.returncode == 0, out.stderr[-3000:]
    a = load_file(str(one.last_checkpoint / "model.safetensors"))
    b = load_file(str(tmp_path / "two" / "checkpoints" / "step-00000001" / "model.safetensors"))
    start = load_model_folder(model).model.state_dict()
    worst = max((a[k] - b[k]).abs().max().item() for k in a)
    moved = max((a[k] - start[k]).abs().max().item() for k in a)
    # Same global batch, same draws; only the order of float additions differs (all-reduce vs accumulation,
    # 1 vs 2 threads). AdamW divides each gradient by its own running size, so a weight whose gradient is near
    # zero turns that rounding into a visible step: seen up to 2% of the largest step (2026-11-30). A wrong
    # share of the batch or a missing all-reduce moves weights by the size of the step itself.
    assert moved > 1e-4 and worst <= 0.05 * moved, (worst, moved)


def test_exported_checkpoint_loads_and_speaks(setup, tmp_path):
    from luxtts import LuxTTS
    from luxtts.cli import main

    run = fit(_cfg(setup, tmp_path / "run", steps=2), log=lambda s: None)
    out = export_checkpoint(run.last_checkpoint, tmp_path / "exported")
    assert {p.name for p in out.iterdir()} == {"model.safetensors", "config.json", "tokens.txt", "vocoder"}
    tts = LuxTTS.from_pretrained(out, device="cpu")
    ema = load_file(str(run.last_checkpoint / "ema.safetensors"))
    loaded = tts.model.state_dict()
    assert all(torch.equal(loaded[k], ema[k]) for k in ema)  # the EMA weights, exactly
    wav_out = tmp_path / "speech.wav"
    from golden_model import prompt_wav

    code = main(["speak", "--model", str(out), "--voice", str(prompt_wav()), "--voice-text",
                 "And you always want to see it in the superlative degree.", "Hello there.",
                 "--output", str(wav_out)])
    assert code == 0 and wav_out.stat().st_size > 1000


def test_new_tokens_are_appended_and_old_rows_and_ids_kept(setup, tmp_path):
    root, model = setup
    base = load_model_folder(model)
    old_rows = base.model.embed.weight.detach().clone()
    old_vocab = dict(base.vocab.token_to_id)
    grown = append_tokens(base, ["ø", "y", "ə", "ʁ"], seed=1)  # "ə" is known: not added again
    assert grown.added_tokens == ["ø", "y", "ʁ"]
    assert all(grown.vocab.token_to_id[t] == i for t, i in old_vocab.items())
    assert [grown.vocab.token_to_id[t] for t in grown.added_tokens] == list(range(len(old_vocab), len(old_vocab) + 3))
    assert torch.equal(grown.model.embed.weight[: len(old_vocab)], old_rows)
    assert grown.model.config.vocab_size == len(old_vocab) + 3

    # Fine-tuning with frozen parts: those stay exactly as loaded, the rest moves.
    run = fit(_cfg(setup, tmp_path / "frozen", steps=1, freeze=("text_encoder", "embed"), ema_decay=0.0),
              log=lambda s: None)
    after = load_file(str(run.last_checkpoint / "model.safetensors"))
    start = load_model_folder(model).model.state_dict()
    assert all(torch.equal(after[k], start[k]) for k in start if k.startswith(("text_encoder.", "embed.")))
    assert any(not torch.equal(after[k], start[k]) for k in start if k.startswith("fm_decoder."))


def test_fine_tuning_on_a_new_language_grows_the_vocabulary_and_the_export_loads(setup, tmp_path):
    import json

    from luxtts import LuxTTS
    from luxtts.train.modelio import Vocabulary

    root, model = setup
    manifest = tmp_path / "de.jsonl"
    clips = root / "raw"
    manifest.write_text("".join(json.dumps({"audio": str(clips / f"clip{i:02d}.wav"), "text": text}) + "\n"
                                for i, text in enumerate(["Guten Morgen", "schöne Grüße", "über die Brücke"])))
    prepare(manifest, tmp_path / "prep", PrepareOptions(lang="de", progress=False))
    old = Vocabulary.read(model / "tokens.txt").token_to_id
    run = fit(_cfg(setup, tmp_path / "run", data=str(tmp_path / "prep"), steps=1), log=lambda s: None)
    new = Vocabulary.read(run.final_model / "tokens.txt").token_to_id
    assert {t: new[t] for t in old} == old and set(new) - set(old) == {"ø", "y"}
    tts = LuxTTS.from_pretrained(run.final_model, device="cpu")
    assert tts.model.embed.weight.shape[0] == len(old) + 2
