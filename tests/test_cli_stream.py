"""Long ``speak`` jobs: streamed to disk in bounded memory, interruptible, resumable to the same audio."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from golden_model import pipeline_cases, prompt_wav
from luxtts import longform
from luxtts.cli import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, main

REPO = Path(__file__).resolve().parents[1]
CASE = pipeline_cases()[0]
SENTENCE = "The quick brown fox jumps over the lazy dog near the river bank. "  # 13 words
# Small chunks: many of them from little text, so a job lasts long enough to be interrupted.
FAST = ["--steps", "1", "--chunk-tokens", "30", "--seed", "7", "--device", "cpu"]


pytestmark = pytest.mark.usefixtures("isolated_home")


def speak_args(model, text_file, out, *extra):
    return ["speak", "-f", str(text_file), "--voice", str(prompt_wav()), "--voice-text", CASE["prompt_text"],
            "--model", str(model), "-o", str(out), *FAST, *extra]


def child(args):
    # The thread count of this process: float sums (and so the audio, by ~1e-7) depend on it, and the resumed
    # job must equal the uninterrupted run made here. LUXTTS_HOME: the isolated one.
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": str(torch.get_num_threads())}
    return subprocess.Popen([sys.executable, "-m", "luxtts", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def interrupt_after(proc, state: Path, chunks: int, sig) -> dict:
    """Send ``sig`` once the job's state file records ``chunks`` finished chunks; returns that state."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        try:
            seen = json.loads(state.read_text())
        except (FileNotFoundError, ValueError):
            seen = None
        if seen and seen["chunks_done"] >= chunks:
            proc.send_signal(sig)
            proc.communicate(timeout=120)
            return seen
        assert proc.poll() is None, proc.communicate()[1].decode()
        time.sleep(0.01)
    raise AssertionError("the job never reached the chunk to interrupt at")


def test_stream_from_a_later_chunk_continues_the_same_audio(tts, prompt):
    """The pipeline hook behind --resume: start at chunk k with the joiner's held audio -> the same samples."""
    text = SENTENCE * 4
    kw = dict(seed=3, num_steps=1, chunk_tokens=30)
    whole = torch.cat(list(tts.stream(text, prompt, **kw)))
    joiner = longform.Joiner(tts.sample_rate, longform.DEFAULT_CROSSFADE_MS)
    head, saved = [], {}

    def note(done, total):
        held = joiner.held  # None after the last chunk: its piece carried the final tail
        saved.setdefault(done, (sum(p.numel() for p in head), None if held is None else held.clone(), total))

    for piece in tts.stream(text, prompt, progress=note, joiner=joiner, **kw):
        head.append(piece)
    k = 2
    written, held, total = saved[k]
    assert total > k + 1
    again = longform.Joiner(tts.sample_rate, longform.DEFAULT_CROSSFADE_MS)
    again.restore(held)
    rest = torch.cat(list(tts.stream(text, prompt, start_chunk=k, joiner=again, **kw)))
    assert torch.equal(torch.cat([torch.cat(head)[:written], rest]), whole)


@pytest.mark.parametrize("suffix,sig", [(".wav", signal.SIGINT), (".flac", signal.SIGTERM), (".wav", signal.SIGKILL)])
def test_interrupted_job_resumes_to_the_uninterrupted_audio(model, tmp_path, capsys, suffix, sig):
    text = tmp_path / "book.txt"
    text.write_text(SENTENCE * 4, encoding="utf-8")
    whole = tmp_path / f"whole{suffix}"
    assert main(speak_args(model, text, whole, "--quiet")) == EXIT_OK

    out = tmp_path / f"long{suffix}"
    partial, state_file = Path(f"{out}.partial"), Path(f"{out}.partial.json")
    proc = child(speak_args(model, text, out))
    seen = interrupt_after(proc, state_file, 2, sig)
    if sig != signal.SIGKILL:
        assert proc.returncode == EXIT_INTERRUPTED
    assert not out.exists()  # the target holds nothing...
    state = json.loads(state_file.read_text())
    assert state["chunks_done"] >= seen["chunks_done"] and state["chunks_done"] < state["chunks_total"]
    if sig != signal.SIGKILL:  # ...and the partial file is a valid, playable file (closed on the way out)
        assert sf.info(str(partial)).frames >= state["frames"]
    done_before = state["chunks_done"]

    # without --resume the partial job is not thrown away; with other settings it is not resumed
    assert main(speak_args(model, text, out)) == EXIT_USAGE
    assert "continue it with --resume" in capsys.readouterr().err
    assert main(speak_args(model, text, out, "--resume", "--speed", "1.1")) == EXIT_USAGE
    assert "speed (was None, now 1.1)" in capsys.readouterr().err

    assert main(speak_args(model, text, out, "--resume")) == EXIT_OK
    err = capsys.readouterr().err
    assert f"(resumed at chunk {done_before + 1})" in err
    assert not partial.exists() and not state_file.exists()
    got, want = sf.read(str(out), dtype="float32"), sf.read(str(whole), dtype="float32")
    assert got[1] == want[1] and got[0].shape == want[0].shape and np.array_equal(got[0], want[0])
    assert main(speak_args(model, text, out, "--resume")) == EXIT_USAGE


def test_resume_without_a_job_and_fresh_start_with_force(model, tmp_path, capsys):
    text = tmp_path / "t.txt"
    text.write_text(SENTENCE, encoding="utf-8")
    out = tmp_path / "o.ogg"
    assert main(speak_args(model, text, out, "--resume")) == EXIT_USAGE
    assert "no interrupted job" in capsys.readouterr().err
    Path(f"{out}.partial").write_bytes(b"left over")
    assert main(speak_args(model, text, out)) == EXIT_USAGE
    assert main(speak_args(model, text, out, "--force")) == EXIT_OK
    assert sf.info(str(out)).format == "OGG" and not Path(f"{out}.partial").exists()


@pytest.mark.parametrize("suffix,fmt,subtype", [(".flac", "FLAC", "PCM_24"), (".ogg", "OGG", "VORBIS"),
                                                (".opus", "OGG", "OPUS"), (".mp3", "MP3", "MPEG_LAYER_III")])
def test_every_container_is_streamed(model, tmp_path, suffix, fmt, subtype):
    text = tmp_path / "t.txt"
    text.write_text(SENTENCE * 2, encoding="utf-8")
    assert main(speak_args(model, text, tmp_path / "ref.wav", "--quiet")) == EXIT_OK
    n = sf.info(str(tmp_path / "ref.wav")).frames
    out = tmp_path / f"o{suffix}"
    assert main(speak_args(model, text, out, "--quiet")) == EXIT_OK
    info = sf.info(str(out))
    assert (info.format, info.subtype, info.samplerate) == (fmt, subtype, 48000)
    # lossy decoders may pad to a frame; the lossless ones give every sample back
    assert info.frames == n if fmt == "FLAC" else abs(info.frames - n) < 4096


def peak_rss_mb(model, tmp_path, words: int) -> float:
    text = tmp_path / f"{words}.txt"
    text.write_text(" ".join((SENTENCE.split() * (words // 13 + 1))[:words]) + ".", encoding="utf-8")
    out = tmp_path / f"{words}.wav"
    code = ("import resource, sys; from luxtts.cli import main; rc = main(sys.argv[1:]); "
            "print('RSS', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr); sys.exit(rc)")
    args = ["speak", "-f", str(text), "--voice", str(prompt_wav()), "--voice-text", CASE["prompt_text"],
            "--model", str(model), "-o", str(out), "--steps", "1", "--seed", "0", "--device", "cpu", "--quiet"]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "LUXTTS_HOME": str(tmp_path / "home")}
    proc = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, timeout=600)
    assert proc.returncode == 0, proc.stderr.decode()
    line = [x for x in proc.stderr.decode().splitlines() if x.startswith("RSS ")][-1]
    return int(line.split()[1]) / 1024, sf.info(str(out)).duration


def test_peak_memory_does_not_grow_with_the_text(model, tmp_path):
    short_rss, short_s = peak_rss_mb(model, tmp_path, 300)
    long_rss, long_s = peak_rss_mb(model, tmp_path, 3000)
    assert long_s > 9 * short_s  # the long job really made ten times the audio (~800 s at 48 kHz)...
    assert abs(long_rss - short_rss) <= 0.05 * short_rss, (short_rss, long_rss)  # ...in the same memory
