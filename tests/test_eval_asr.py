"""Speech recognition and speaker embeddings on real speech: the CMU ARCTIC recordings of the golden folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import GOLDEN_DIR
from golden_model import pipeline_cases
from luxtts.audio import load_audio
from luxtts.errors import InvalidOptionError, TranscriptionUnavailableError
from luxtts.eval.metrics import error_counts

REPO = Path(__file__).resolve().parents[1]
# The ARCTIC recordings of the golden folder with their transcripts: the pipeline cases name theirs; the
# features folder's prompt.wav is the same utterance (arctic_a0007, golden README).
ARCTIC_TEXT = pipeline_cases()[0]["prompt_text"]
ARCTIC = sorted({(GOLDEN_DIR / "pipeline" / c["prompt_wav"], c["prompt_text"]) for c in pipeline_cases()}
                | {(GOLDEN_DIR / "features" / "prompt.wav", ARCTIC_TEXT)})


def wav16k(path: Path) -> np.ndarray:
    return load_audio(str(path), 16000).samples.numpy()


@pytest.mark.parametrize("path, text", ARCTIC, ids=[f"{p.parent.name}/{p.name}" for p, _ in ARCTIC])
def test_pocketsphinx_transcribes_arctic_within_10_percent_wer(path, text):
    from luxtts.asr import transcribe

    heard = transcribe(wav16k(path), backend="pocketsphinx")
    counts = error_counts(text, heard)
    print(f"{path.parent.name}/{path.name}: heard {heard!r}, WER {counts.wer:.3f}, CER {counts.cer:.3f}")
    assert counts.wer <= 0.10


def test_asr_backend_names_are_checked():
    from luxtts.asr import BACKENDS, check_backend, installed_backends, load_recognizer

    assert "pocketsphinx" in installed_backends() and set(installed_backends()) <= set(BACKENDS)
    assert check_backend("auto") is None
    with pytest.raises(InvalidOptionError, match="accepted: auto, faster-whisper"):
        load_recognizer("kaldi")


def test_explicit_backend_that_cannot_load_raises_the_reason(tmp_path):
    from luxtts.asr import load_recognizer

    with pytest.raises(TranscriptionUnavailableError, match="faster-whisper could not load model"):
        load_recognizer("faster-whisper", model=str(tmp_path / "no-such-whisper"))


def test_prompt_without_transcript_is_encoded_offline_through_pocketsphinx(folder, tmp_path):
    """A machine that cannot download: faster-whisper is installed but has no weights, so auto falls back."""
    code = (
        "import json, logging, sys\n"
        "logging.basicConfig(level=logging.INFO, stream=sys.stderr, format='%(levelname)s %(message)s')\n"
        "from luxtts import LuxTTS\n"
        f"tts = LuxTTS.from_pretrained({str(folder)!r}, device='cpu')\n"
        f"p = tts.encode_prompt({str(ARCTIC[0][0])!r}, duration=None)\n"
        "print(json.dumps({'transcript': p.transcript, 'tokens': len(p.tokens)}))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"),
           "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert "faster-whisper could not load model 'tiny'" in out.stderr
    assert "speech recognition by pocketsphinx (en-us)" in out.stderr
    assert error_counts(ARCTIC_TEXT, result["transcript"]).wer <= 0.10
    assert result["tokens"] > 20


# ---------------------------------------------------------------------------------------------- speaker


@pytest.fixture(scope="module")
def espeak_voices(tmp_path_factory):
    """Two synthetic speakers saying the ARCTIC sentence: espeak-ng's male and female English voices."""
    folder = tmp_path_factory.mktemp("espeak")
    paths = []
    for voice in ("en-us", "en-us+f3"):
        path = folder / f"{voice.replace('+', '_')}.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), ARCTIC_TEXT], check=True, timeout=60)
        paths.append(path)
    return [wav16k(p) for p in paths]


def test_two_halves_of_one_recording_are_closer_than_other_speakers(espeak_voices):
    from luxtts.eval.speaker import load_speaker_encoder

    encoder = load_speaker_encoder()
    wav = wav16k(ARCTIC[0][0])
    first, second = wav[: len(wav) // 2], wav[len(wav) // 2:]
    same = encoder.similarity(first, second)
    others = [encoder.similarity(half, other) for half in (first, second) for other in espeak_voices]
    print(f"SIM same speaker (halves) {same:.3f}; ARCTIC vs espeak-ng voices {[round(o, 3) for o in others]}")
    assert same > max(others)
    assert encoder.similarity(wav, wav) == pytest.approx(1.0, abs=1e-6)


def test_audio_without_detected_voice_still_gets_its_own_embedding():
    """Resemblyzer's voice detector drops noise entirely; two different noises must not score the same."""
    from luxtts.eval.speaker import load_speaker_encoder

    encoder = load_speaker_encoder()
    rng = np.random.default_rng(0)
    voice = wav16k(ARCTIC[0][0])
    # Both are signals its detector drops completely (checked with resemblyzer 0.1.4's preprocess_wav).
    hiss = np.diff(rng.standard_normal(32002), n=2)
    noise = (0.05 * hiss / np.abs(hiss).max()).astype(np.float32)
    hum = (0.05 * np.sin(2 * np.pi * 3000 * np.arange(32000) / 16000)).astype(np.float32)
    sims = [encoder.similarity(voice, noise), encoder.similarity(voice, hum)]
    assert abs(sims[0] - sims[1]) > 1e-3
    assert max(sims) < encoder.similarity(voice[:32000], voice[32000:])


def test_speaker_errors():
    from luxtts.eval.speaker import load_speaker_encoder

    with pytest.raises(InvalidOptionError, match="accepted: resemblyzer, wavlm"):
        load_speaker_encoder("ecapa")
    with pytest.raises(InvalidOptionError, match="silent"):
        load_speaker_encoder().embed(np.zeros(16000, dtype=np.float32))


def test_inference_imports_no_eval_backend():
    code = ("import sys, json, luxtts, luxtts.pipeline, luxtts.cli, luxtts.asr; "
            "print(json.dumps(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    mods = json.loads(out.stdout.strip().splitlines()[-1])
    heavy = ("librosa", "resemblyzer", "pocketsphinx", "faster_whisper", "jiwer", "matplotlib", "luxtts.eval.runner")
    assert [m for m in mods if m.split(".")[0] in heavy or m == "luxtts.eval.runner"] == []
