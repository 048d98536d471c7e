"""benchmarks/compare_sherpa.py: the token layout sherpa-onnx reads, the prompt's frame count, the vocoder's
metadata and the report's pairs (its timings are the script's to print, not a test's)."""

from __future__ import annotations

import pytest

from bench_script import load_benchmark


def _script():
    return load_benchmark("compare_sherpa")


def test_generation_tokens_put_the_prompt_first():
    tokens = _script().generation_tokens(["a", "b"], [["c"], ["d", "e"]])
    assert tokens == [["a", "b"], ["c"], ["d", "e"]]


@pytest.mark.parametrize("prompt, sentences", [([], [["c"]]), (["a"], []), (["a"], [["c"], []])])
def test_generation_tokens_refuse_an_empty_part(prompt, sentences):
    # sherpa-onnx answers an empty part with no audio and no error, which would time nothing
    with pytest.raises(ValueError):
        _script().generation_tokens(prompt, sentences)


def test_phoneme_tokens_come_from_our_tokenizer(tmp_path):
    from luxtts.bench.random_model import random_model_folder
    from luxtts.bench.workloads import PROMPT_TEXT, W1_TEXT

    folder = random_model_folder("tiny", tmp_path / "cache")
    prompt, text = _script().phoneme_tokens(folder, PROMPT_TEXT, W1_TEXT)
    # the bench's workload: 73 prompt tokens and 181 text tokens (docs/speed.md)
    assert (len(prompt), len(text)) == (73, 181)
    vocab = {line.split("\t")[0] for line in (folder / "tokens.txt").read_text(encoding="utf-8").splitlines()}
    assert set(prompt + text) <= vocab


def test_prompt_frames_follow_a_centred_stft():
    # 5 s at 24 kHz, hop 256: 468 full hops plus the centred frame = the 469 frames both sides use
    assert _script().prompt_frames(120000) == 469


def test_vocoder_metadata_is_what_sherpa_onnx_reads():
    meta = _script().VOCOS_META
    assert meta["model_type"] == "vocos" and meta["sample_rate"] == "24000"
    assert (meta["n_fft"], meta["hop_length"], meta["win_length"]) == ("1024", "256", "1024")
    assert all(isinstance(v, str) for v in meta.values())  # ONNX metadata holds strings only


def test_report_pairs_ours_with_sherpa():
    module = _script()
    runs = {"ours int8": [{"seconds": 2.0, "frames": 1000, "audio_seconds": 9.5, "peak_rss_mb": 600}] * 2,
            "sherpa-onnx int8": [{"seconds": 3.0, "frames": 1600, "audio_seconds": 11.6, "peak_rss_mb": 860}] * 2}
    text = module.cu.report(runs, 2, pairs=module.PAIRS, theirs="sherpa-onnx")
    assert "Within-round ratios, sherpa-onnx ms per frame / ours" in text
    assert "ours int8 vs sherpa-onnx int8: 0.94x (0.94-0.94) over 2 rounds" in text
