"""``luxtts bench`` end to end on a tiny random model, and the pieces it is built from (no timings asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def run_cli(args, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-m", "luxtts", "bench", *args], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=600)


@pytest.fixture(scope="module")
def tiny_result(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bench")
    out = tmp / "result.json"
    proc = run_cli(["--random-tiny", "--threads", "1", "--quantize", "int8", "--no-quiet-wait",
                    "--cache-dir", str(tmp / "cache"), "--json", str(out)], tmp)
    assert proc.returncode == 0, proc.stderr
    return json.loads(out.read_text()), proc.stdout


def test_json_has_the_documented_keys(tiny_result):
    r, _ = tiny_result
    for key in ("rtf", "seconds", "audio_seconds", "peak_rss_mb", "stages", "gflops_per_s", "decoder_steps",
                "machine", "baseline", "speedup_vs_fp32_eager", "cold_start", "flops_total", "paths", "frames",
                "ms_per_frame", "first_audio_s", "prompt_frames"):
        assert key in r, key
    assert r["path"] == "default" and set(r["paths"]) == {"default", "one_pass", "stream"}
    assert set(r["stages"]) >= {"frontend", "text_encoder", "decoder", "vocoder", "write"}
    assert r["variant"] == "float32/int8"
    assert r["int8_engine"] == "x86" and "(x86 kernels)" in tiny_result[1]


def test_a_bad_int8_engine_is_refused_before_any_run(tmp_path, monkeypatch):
    monkeypatch.setenv("LUXTTS_INT8_ENGINE", "bogus")
    proc = run_cli(["--random-tiny", "--quantize", "int8", "--no-quiet-wait", "--cache-dir", str(tmp_path)], tmp_path)
    assert proc.returncode != 0
    assert "$LUXTTS_INT8_ENGINE must be one of ['auto', 'x86', 'fbgemm', 'onednn'], got 'bogus'" in proc.stderr
    assert "Traceback" not in proc.stderr and not list(tmp_path.iterdir())  # nothing built or written


def test_numbers_are_consistent(tiny_result):
    r, _ = tiny_result
    assert r["audio_seconds"] > 1.0  # ~10 s of speech at the prompt's pace
    assert r["seconds"] > 0 and abs(r["rtf"] - r["seconds"] / r["audio_seconds"]) < 1e-9
    # The headline is the default path: W1's ~180 tokens in the fewest chunks of <= 100, 4 steps each.
    paths = r["paths"]
    assert r["chunks"] == 2 and len(r["decoder_steps"]) == 4 * 2 and max(r["chunk_tokens"]) <= 100
    assert r["seconds"] == paths["default"]["seconds"]
    assert paths["one_pass"]["chunks"] == 1 and len(paths["one_pass"]["decoder_steps"]) == 4
    assert sum(paths["one_pass"]["chunk_tokens"]) == sum(r["chunk_tokens"])
    # Frames are the unit of work: every chunk carries the prompt's frames again.
    for p in paths.values():
        generated = p["frames"] - p["chunks"] * r["prompt_frames"]
        assert 0 < generated < p["frames"]
        assert p["ms_per_frame"] == pytest.approx(1000 * p["seconds"] / p["frames"])
        assert p["runs"] == 1 and p["seconds_range"] == [p["seconds"], p["seconds"]]
    assert paths["default"]["frames"] - paths["one_pass"]["frames"] == pytest.approx(r["prompt_frames"], abs=4)
    # Streaming speaks a short first chunk (W1's first clause) and so gives its first audio from less work.
    assert paths["stream"]["chunk_tokens"][0] < min(r["chunk_tokens"])
    assert r["first_audio_s"] == paths["stream"]["first_audio_s"] > 0
    assert sum(r["stages"].values()) == pytest.approx(r["seconds"], rel=1e-6)
    assert r["peak_rss_mb"] > 50
    assert r["flops_total"] > 0 and r["gflops_per_s"] > 0  # counted in the fp32 baseline run
    assert r["baseline"]["audio_seconds"] == pytest.approx(r["audio_seconds"], rel=0.01)
    assert r["speedup_vs_fp32_eager"] == pytest.approx(r["baseline"]["seconds"] / r["seconds"])
    assert r["machine"]["cores"] >= 1 and r["machine"]["isa"]


def test_human_summary_printed(tiny_result):
    _, stdout = tiny_result
    assert "RTF" in stdout and "baseline fp32 eager" in stdout
    assert "* default path" in stdout and "one pass (chunk_tokens=None" in stdout and "ms per frame" in stdout


def test_bad_arguments_exit_2(tmp_path):
    proc = run_cli(["--random-tiny", "--threads", "0"], tmp_path)
    assert proc.returncode == 2 and "threads" in proc.stderr
    proc = run_cli(["--voice", "x.wav"], tmp_path)
    assert proc.returncode == 2 and "--voice-text" in proc.stderr


def test_workloads():
    from luxtts.bench.workloads import PROMPT_RATE, W1_TEXT, synthetic_prompt, w2_text

    assert 25 <= len(W1_TEXT.split()) <= 35
    for words in (100, 2000):
        n = len(w2_text(words).split())
        assert words <= n < words + 30
    wav = synthetic_prompt()
    assert wav.shape == (5 * PROMPT_RATE,) and wav.dtype == np.float32
    assert 0.04 < float(np.sqrt(np.mean(wav**2))) < 0.06
    assert np.array_equal(wav, synthetic_prompt())  # deterministic


def test_random_tiny_folder_loads(tmp_path):
    from luxtts.bench.random_model import random_model_folder
    from luxtts.pipeline import LuxTTS

    folder = random_model_folder("tiny", tmp_path)
    assert random_model_folder("tiny", tmp_path) == folder  # cached
    tts = LuxTTS.from_pretrained(str(folder), device="cpu")
    assert tts.sample_rate == 48000 and tts.model.is_distill
    # perturbed: no parameter is constant (a zero or all-equal tensor would make a branch degenerate)
    for name, p in tts.model.named_parameters():
        if p.numel() > 1:
            assert p.std() > 0, name


def test_disturbance_measures_foreign_load():
    from luxtts.bench.quiet import Disturbance, measure

    with Disturbance() as d:
        sum(range(100000))
    assert d.foreign is None or d.foreign >= 0
    out, seconds, foreign = measure(lambda: 42, max_foreign=10.0, tries=1)
    assert out == 42 and seconds >= 0


def test_flop_counter_counts_the_onednn_linear():
    import torch

    from luxtts.bench.flops import count_flops
    from luxtts.model.linear import Linear

    layer = Linear(64, 32)
    x = torch.randn(3, 10, 64)
    with torch.inference_mode():
        total, per_op = count_flops(lambda: layer(x))
    assert total == 2 * 30 * 64 * 32


def test_flop_counter_counts_the_fused_residual_linear():
    import torch

    from luxtts.bench.flops import count_flops
    from luxtts.model.linear import Linear

    layer = Linear(32, 32)  # square, so the residual's shape could be mistaken for the weight's
    x, r = torch.randn(2, 7, 32), torch.randn(2, 7, 32)
    with torch.inference_mode():
        total, _ = count_flops(lambda: layer(x, residual=r))
    assert total == 2 * 14 * 32 * 32
