"""The benchmark workloads: texts, and a synthetic voiced prompt (no recording ships with the package).

W1: a 5.0 s prompt and one ~30-word English sentence (about 10 s of speech), spoken in one pass, batch 1.
W2: the same prompt and a long text (2,000 words by default), chunked and batched as the pipeline does it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import List

import numpy as np

PROMPT_SECONDS = 5.0
PROMPT_RATE = 24000
# What the synthetic prompt "says": its token count sets the model's frames per token, hence the pace.
PROMPT_TEXT = "The quick brown fox jumps over the lazy dog near the river bank."

W1_TEXT = (
    "On a quiet morning in early spring, the old lighthouse keeper climbed the winding stairs once more, "
    "carrying a lantern, a notebook, and a small tin of coffee for the long watch."
)

# Sentences of varied length and punctuation; W2 cycles through them until it has enough words.
_W2_SENTENCES = (
    "The committee met on Tuesday to review the budget for the coming year.",
    "Nobody expected the storm to arrive so early, but the harbour was ready.",
    "She opened the window, listened to the rain, and decided to stay home.",
    "In the end, the simplest explanation turned out to be the right one.",
    "How many times have we walked past this door without noticing the small brass plate?",
    "The train was late again; the passengers sighed and checked their watches.",
    "Careful measurements showed that the bridge could carry twice the expected load.",
    "He wrote three letters that evening and posted none of them.",
    "Between the hills lay a village where every house had a blue door.",
    "The recipe calls for two eggs, a cup of flour, and a pinch of salt.",
    "After years of practice, the pianist could play the piece without looking at the keys.",
    "Why would anyone build a library on an island with no roads?",
    "The children counted the stars until they fell asleep on the warm grass.",
    "Our new schedule starts next Monday, so please check the times carefully.",
    "A thin layer of frost covered the fields, and the air smelled of smoke.",
    "The museum keeps its oldest maps in a cool room behind a heavy steel door.",
    "When the music stopped, everyone turned to look at the stage.",
    "The engineer explained the design in plain words, and the audience understood.",
    "Far from the city lights, the sky was dark enough to see the milky way.",
    "They planted apple trees along the fence, hoping for fruit in five years.",
)


def w2_text(words: int = 2000) -> str:
    """A deterministic English text of about ``words`` words (whole sentences)."""
    out: List[str] = []
    count = 0
    i = 0
    while count < words:
        sentence = _W2_SENTENCES[i % len(_W2_SENTENCES)]
        out.append(sentence)
        count += len(sentence.split())
        i += 1
    return " ".join(out)


def workload_text(name: str, words: int = 2000) -> str:
    if name == "w1":
        return W1_TEXT
    if name == "w2":
        return w2_text(words)
    raise ValueError(f"unknown workload {name!r}; accepted: w1, w2")


def synthetic_prompt(seconds: float = PROMPT_SECONDS, rate: int = PROMPT_RATE, seed: int = 0) -> np.ndarray:
    """A voice-like signal, (N,) float32: harmonics of a wandering 100-150 Hz pitch under three formants,
    gated into syllables at ~4 Hz, plus a little breath noise. RMS about 0.05."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * rate))
    t = np.arange(n) / rate
    f0 = 125 + 20 * np.sin(2 * math.pi * 0.7 * t) + 8 * np.sin(2 * math.pi * 2.3 * t + 1.0)
    phase = 2 * math.pi * np.cumsum(f0) / rate
    formants = ((700, 130), (1200, 170), (2600, 250))
    wave = np.zeros(n)
    for k in range(1, 40):
        freq = k * f0
        gain = sum(np.exp(-0.5 * ((freq - fc) / bw) ** 2) for fc, bw in formants) + 0.05 / k
        wave += gain * np.sin(k * phase)
    syllables = 0.5 * (1 - np.cos(2 * math.pi * 4.0 * t)) ** 1.5
    wave = wave * syllables + 0.02 * rng.standard_normal(n)
    wave *= 0.05 / np.sqrt(np.mean(wave**2))
    return wave.astype(np.float32)


def write_prompt(path: Path, seconds: float = PROMPT_SECONDS) -> Path:
    import soundfile as sf

    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.is_file():
        sf.write(str(path), synthetic_prompt(seconds), PROMPT_RATE, subtype="PCM_16")
    return path
