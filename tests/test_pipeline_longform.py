"""Long text on the golden model: chunking, lengths, streaming, and memory that does not grow with the text."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from golden_model import SAMPLES_PER_FRAME_48K, pipeline_cases, prompt_wav
from luxtts.longform import Chunk, Joiner, batches
from luxtts.audio import crossfade_concat

REPO = Path(__file__).resolve().parents[1]
CASE = pipeline_cases()[0]

# About 300 words: several paragraphs of ordinary prose with numbers, abbreviations and punctuation.
LONG_TEXT = """\
The harbour was quiet when the first boats came back, just after six in the morning. Mrs. Alder stood at the end
of the pier with a flask of tea, counting hulls the way her father had taught her: one for each family, two for
the Hendersons, who never agreed on anything. The fog had lifted early, which meant the catch would be good, or
at least that the men would say so. By seven, the market was open. Prices were chalked on a board by the door:
cod at 12 dollars a kilo, mackerel at 4.50, and crab "by arrangement", which everyone understood to mean more than
you wanted to pay. Children ran between the stalls; a dog slept under the scales. Nobody hurried, because nobody
needed to. Later that week, a letter arrived from the council. It was three pages long and said, in the end, very
little: the pier would be repaired, perhaps next spring, if the budget allowed; the lighthouse would stay dark
until further notice; and residents were thanked for their patience. Mr. Henderson read it aloud in the pub, with
pauses for effect, and then used it to level a wobbling table. Still, things changed, slowly, as they always do.
A young engineer came down from the city with drawings and a measuring tape. She asked questions that nobody had
asked in years — how high did the water rise in winter, where did the ice collect, which planks groaned loudest
under a loaded cart — and she wrote every answer down. By March, there were new posts along the eastern side, and
the children had a new place to sit and watch the boats. Is that progress? Maybe. The fog still comes in most
mornings, the tea is still too strong, and the Hendersons still argue about everything. But the pier holds, and
on clear nights, for the first time in a decade, the lighthouse turns again.
"""


# The first half of LONG_TEXT, cut at a sentence end: the memory test speaks it, then it twice.
HALF_TEXT = LONG_TEXT[: LONG_TEXT.index("Later that week")].strip()


def test_text_is_long_enough():
    assert 250 <= len(LONG_TEXT.split()) <= 400


@pytest.fixture(scope="module")
def untrimmed(tts, prompt):
    return tts.generate(LONG_TEXT, prompt, seed=11, trim_joins=False)


def test_chunks_cover_the_text_within_the_token_limit(tts, untrimmed):
    counts = [c.tokens for c in untrimmed.chunks]
    assert len(counts) >= 8
    assert max(counts) <= 100
    assert sum(counts) == len(tts.tokenizer.encode(LONG_TEXT))


def test_untrimmed_length_is_frames_minus_crossfades(untrimmed):
    fade = untrimmed.crossfade_samples
    assert fade == 2400  # 50 ms at 48 kHz
    for c in untrimmed.chunks:
        assert c.samples == c.frames * SAMPLES_PER_FRAME_48K
    expected = sum(c.frames * SAMPLES_PER_FRAME_48K for c in untrimmed.chunks) - (len(untrimmed.chunks) - 1) * fade
    assert untrimmed.audio.shape[-1] == expected


def test_trimmed_length_is_chunks_minus_crossfades(tts, prompt, untrimmed):
    result = tts.generate(LONG_TEXT, prompt, seed=11)
    n = len(result.chunks)
    assert [c.frames for c in result.chunks] == [c.frames for c in untrimmed.chunks]
    assert all(c.samples <= c.frames * SAMPLES_PER_FRAME_48K for c in result.chunks)
    assert all(c.samples > result.crossfade_samples for c in result.chunks)
    assert result.audio.shape[-1] == sum(c.samples for c in result.chunks) - (n - 1) * result.crossfade_samples


def test_stream_yields_the_same_audio_in_pieces(tts, prompt, untrimmed):
    pieces = list(tts.stream(LONG_TEXT, prompt, seed=11, trim_joins=False, batch_frames=2000, chunk_policy="fewest"))
    assert len(pieces) >= 3
    assert all(p.dim() == 1 and p.dtype == torch.float32 for p in pieces)
    ref = tts.generate(LONG_TEXT, prompt, seed=11, trim_joins=False, batch_frames=2000).audio
    assert torch.equal(torch.cat(pieces), ref)
    assert ref.shape == untrimmed.audio.shape


def test_progress_reports_every_batch(tts, prompt):
    seen = []
    tts.generate(LONG_TEXT[:600], prompt, seed=1, progress=lambda done, total: seen.append((done, total)))
    assert seen and seen[-1][0] == seen[-1][1]
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_no_chunking_speaks_in_one_pass(tts, prompt):
    result = tts.generate(LONG_TEXT[:400], prompt, seed=1, chunk_tokens=0)
    assert len(result.chunks) == 1


def test_batches_respect_the_frame_budget():
    chunks = [Chunk(i, [1], f) for i, f in enumerate([300, 500, 200, 900, 100, 100, 100])]
    groups = list(batches(chunks, 1000))
    assert [[c.index for c in g] for g in groups] == [[0, 1], [2], [3], [4, 5, 6]]
    assert [c.index for g in groups for c in g] == list(range(7))
    assert all(len(g) * max(c.total_frames for c in g) <= 1000 or len(g) == 1 for g in groups)
    assert [len(g) for g in batches(chunks, 10**6)] == [7]


def test_joiner_matches_crossfade_concat():
    g = torch.Generator().manual_seed(0)
    chunks = [torch.randn(n, generator=g) for n in (5000, 30, 4000, 2400, 7)]
    joiner = Joiner(48000, 50.0)
    pieces = [joiner.push(c) for c in chunks] + [joiner.finish()]
    assert torch.equal(torch.cat(pieces), crossfade_concat(chunks, 48000, 50.0))


MEMORY_SCRIPT = r"""
import json, re, sys, torch
from luxtts import LuxTTS
folder, wav, prompt_text, text, hold, reps = sys.argv[1:7]
tts = LuxTTS.from_pretrained(folder, device="cpu", threads=1)
prompt = tts.encode_prompt(wav, text=prompt_text)
double = text + " " + text

def run(t):
    kept, n = [], 0
    for piece in tts.stream(t, prompt, seed=0, chunk_policy="fewest"):
        n += piece.numel()
        if hold == "1":
            kept.append(piece.clone())
    return n

def reset_peak():
    # Linux: writing 5 to clear_refs resets the peak resident set size (VmHWM) to the current one.
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")

def peak():
    with open("/proc/self/status") as f:
        return int(re.search(r"VmHWM:\s+(\d+) kB", f.read()).group(1)) * 1024

def measured(t):
    reset_peak()
    return run(t), peak()

run(double)   # warm-up: allocator pools and lazy state for every chunk length used below
# The same text several times: how far the allocator alone moves the peak (its noise) in this process.
repeats = [measured(text) for _ in range(int(reps))]
n1, p1 = repeats[-1]
n2, p2 = measured(double)
print(json.dumps({"n1": n1, "n2": n2, "p1": max(p for _, p in repeats), "p2": p2,
                  "noise": max(p for _, p in repeats) - min(p for _, p in repeats)}))
"""


def measure(folder, hold: bool, repeats: int = 1) -> dict:
    # Fixed glibc thresholds: big blocks are mmapped and returned on free, so peak RSS tracks live memory
    # (the adaptive defaults keep freed blocks and would hide both a leak and its absence); oneDNN's
    # per-shape primitive cache is off because it grows with every new chunk length until it is full.
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1",
           "MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0", "ONEDNN_PRIMITIVE_CACHE_CAPACITY": "0"}
    out = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT, str(folder), str(prompt_wav()), CASE["prompt_text"], HALF_TEXT,
         "1" if hold else "0", str(repeats)],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


# A leak of the audio would grow the peak by the extra text's audio bytes; a quarter of that is the bound, unless
# the allocator's own noise on this model is larger. The noise is measured on the run, as the spread of the peaks
# of the same text spoken NOISE_REPEATS times (0.3 MB on the shared golden model, 2026-12-04; 1.8 MB was seen on a
# smaller one), and NOISE_MARGIN times it is allowed: the doubled text's peak is one more draw of that noise.
LEAK_FRACTION = 0.25
NOISE_REPEATS = 3
NOISE_MARGIN = 2.0


def test_peak_memory_is_flat_when_the_text_doubles(folder):
    streaming = measure(folder, hold=False, repeats=NOISE_REPEATS)
    audio_bytes = streaming["n1"] * 4
    assert streaming["n2"] > 1.9 * streaming["n1"]
    bound = max(LEAK_FRACTION * audio_bytes, NOISE_MARGIN * streaming["noise"])
    # The doubled text adds a whole text's worth of audio; streaming must not keep it.
    assert streaming["p2"] - streaming["p1"] < bound, (bound, streaming)
    # Control: keeping every piece does show up in the same measurement, above the same bound, so the check
    # above can fail (if not, the text is too short to tell a leak from this model's allocator noise).
    holding = measure(folder, hold=True)
    assert holding["p2"] - holding["p1"] > max(0.5 * audio_bytes, bound), (bound, holding)


def test_default_batching_depends_on_the_device():
    from luxtts import longform

    assert longform.default_batch_frames("cpu") == 1
    assert longform.default_batch_frames("cuda") == longform.DEFAULT_BATCH_FRAMES > 1
