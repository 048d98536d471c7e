"""benchmarks/compare_upstream.py: the weights it writes in upstream's layout are the same model, and its report."""

from __future__ import annotations

import torch

from bench_script import load_benchmark


def _script():
    return load_benchmark("compare_upstream")


def test_upstream_layout_holds_the_same_model(tmp_path):
    from luxtts.bench.random_model import random_model_folder
    from luxtts.bench.workloads import PROMPT_TEXT, synthetic_prompt
    from luxtts.pipeline import LuxTTS

    ours = random_model_folder("tiny", tmp_path / "cache")
    theirs = _script().write_upstream_layout(ours, tmp_path / "upstream")
    for name in ("model.pt", "config.json", "model.json", "tokens.txt", "vocoder/config.yaml", "vocoder/vocos.bin"):
        assert (theirs / name).is_file(), name
    # Upstream reads model.pt as {"model": state_dict} and vocos.bin as a bare state dict.
    assert set(torch.load(theirs / "model.pt", weights_only=True)) == {"model"}
    # upstream's Vocos loads strictly, with the feature extractor's buffers under torchaudio's names
    vocos_keys = set(torch.load(theirs / "vocoder" / "vocos.bin", weights_only=True))
    assert {"feature_extractor.mel_spec.spectrogram.window", "feature_extractor.mel_spec.mel_scale.fb"} <= vocos_keys
    assert "feature_extractor.filterbank" not in vocos_keys
    audio = []
    for folder in (ours, theirs):
        tts = LuxTTS.from_pretrained(str(folder), device="cpu", threads=1)
        assert tts.files.checkpoint.name == ("model.pt" if folder == theirs else "model.safetensors")
        prompt = tts.encode_prompt((torch.from_numpy(synthetic_prompt()), 24000), text=PROMPT_TEXT)
        audio.append(tts.generate("A short test sentence.", prompt, seed=0).audio)
    assert torch.equal(audio[0], audio[1])


def test_report_gives_per_frame_ratios_per_round():
    runs = {
        "ours float32": [{"seconds": 2.0, "frames": 1000, "audio_seconds": 9.5, "peak_rss_mb": 900}] * 2,
        "upstream onnx": [{"seconds": 2.0, "frames": 800, "audio_seconds": 8.4, "peak_rss_mb": 1800},
                          {"seconds": 3.0, "frames": 800, "audio_seconds": 8.4, "peak_rss_mb": 1900}],
    }
    text = _script().report(runs, 2)
    assert "| ours float32 | 9.50 | 2.00 (2.00-2.00) | 1000 | 900-900 |" in text
    # per frame: 2.5 and 3.75 ms against 2.0 ms
    assert "ours float32 vs upstream onnx: 1.56x (1.25-1.88) over 2 rounds" in text
