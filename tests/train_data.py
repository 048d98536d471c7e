"""Small training sets made from the golden ARCTIC recording (slices of it with parts of its transcript)."""

from __future__ import annotations

import json
from pathlib import Path

import soundfile as sf

from conftest import GOLDEN_DIR

WORDS = "And you always want to see it in the superlative degree".split()


def arctic() -> tuple:
    wav, sr = sf.read(str(GOLDEN_DIR / "pipeline" / "prompt.wav"), dtype="float32")
    return wav, sr


def make_clips(folder: Path, count: int = 8, bad: bool = False) -> Path:
    """``count`` clips of 0.8-2.6 s (16 kHz wav) with word spans as transcripts, and a JSONL manifest.
    ``bad`` adds rows that prepare must skip: a missing file, an empty transcript, a corrupt file, a 0.1 s clip."""
    wav, sr = arctic()
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(count):
        start = (i * 0.37) % 1.2
        length = 0.8 + (i * 0.61) % 1.8
        clip = wav[int(start * sr): int((start + length) * sr)]
        name = f"clip{i:02d}.wav"
        sf.write(str(folder / name), clip, sr)
        k = 2 + i % (len(WORDS) - 2)
        rows.append({"audio": name, "text": " ".join(WORDS[i % 3: i % 3 + k]), "speaker": "arctic"})
    if bad:
        rows.append({"audio": "missing.wav", "text": "nothing here"})
        rows.append({"audio": "clip00.wav", "text": "   "})
        (folder / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
        rows.append({"audio": "corrupt.wav", "text": "broken file"})
        sf.write(str(folder / "tiny.wav"), wav[: sr // 10], sr)
        rows.append({"audio": "tiny.wav", "text": "too short"})
    manifest = folder / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return manifest
