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

