"""Build LuxTTS-layout model folders from the golden files (the tiny random models the goldens were made with)."""

from __future__ import annotations

import shutil
from pathlib import Path

from conftest import GOLDEN_DIR, golden_spec

PIPELINE = "pipeline"
# Vocoder output samples per model frame: the 24 kHz head's hop (256) x 2 for 48 kHz.
SAMPLES_PER_FRAME_48K = 512


def pipeline_cases() -> list:
    return golden_spec(PIPELINE)["cases"]


def build_luxtts_folder(dest: Path, case: dict | None = None) -> Path:
    """model_distill/{model.pt,config.json,tokens.txt} + vocoder_48k/{config.yaml,vocos.bin} -> dest (LuxTTS layout)."""
    case = case or pipeline_cases()[0]
    model_dir = (GOLDEN_DIR / PIPELINE / case["model"]).resolve()
    vocoder_dir = (GOLDEN_DIR / PIPELINE / case["vocoder"]).resolve()
    (dest / "vocoder").mkdir(parents=True, exist_ok=True)
    for name in ("model.pt", "config.json", "tokens.txt"):
        shutil.copyfile(model_dir / name, dest / name)
    for name in ("config.yaml", "vocos.bin"):
        shutil.copyfile(vocoder_dir / name, dest / "vocoder" / name)
    return dest


def prompt_wav(case: dict | None = None) -> Path:
    case = case or pipeline_cases()[0]
    return GOLDEN_DIR / PIPELINE / case["prompt_wav"]



def build_zipvoice_folder(dest: Path, model: str = "model_base") -> Path:
    """model.pt, model.json, tokens.txt + vocoder/{config.yaml,pytorch_model.bin} (24 kHz Vocos) -> dest (ZipVoice
    layout). ``model``: "model_base" (ZipVoice) or "model_distill" (ZipVoice-Distill)."""
    src = GOLDEN_DIR / model
    (dest / "vocoder").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src / "model.pt", dest / "model.pt")
    shutil.copyfile(src / "config.json", dest / "model.json")
    shutil.copyfile(src / "tokens.txt", dest / "tokens.txt")
    for name in ("config.yaml", "pytorch_model.bin"):
        shutil.copyfile(GOLDEN_DIR / "vocoder_24k" / name, dest / "vocoder" / name)
    return dest
