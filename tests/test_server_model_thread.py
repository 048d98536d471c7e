"""The server's torch work never starts a second OpenMP pool beside the generating one (luxtts.server.scheduler
says why: it made every chunk 1.3-1.5x slower): the model loads and generates on the scheduler's worker thread,
voices are encoded and loaded on one voice thread whose parallel work runs on itself alone."""

from __future__ import annotations

import base64
import threading

import httpx
import pytest
import torch
from golden_model import pipeline_cases, prompt_wav
from server_live import free_port, live_server, voice_form

import luxtts.batching
import luxtts.server.speech
from luxtts.server.metrics import Metrics
from luxtts.server.scheduler import Scheduler
from luxtts.server.settings import ServerSettings

TRANSCRIPT = pipeline_cases()[0]["prompt_text"]
WORKER = "luxtts-scheduler"
VOICES = "luxtts-voices"


def test_calls_run_on_the_worker_thread_in_order():
    scheduler = Scheduler(Metrics(), max_queue=4)
    try:
        seen = []
        futures = [scheduler.call(lambda i=i: seen.append((i, threading.current_thread().name)) or i)
                   for i in range(5)]
        assert [f.result(timeout=10) for f in futures] == list(range(5))
        assert seen == [(i, WORKER) for i in range(5)]
    finally:
        scheduler.stop(10)


def test_a_failing_call_hands_its_exception_over_and_the_worker_goes_on():
    scheduler = Scheduler(Metrics(), max_queue=4)
    try:
        def fail():
            raise ValueError("bad voice")

        with pytest.raises(ValueError, match="bad voice"):
            scheduler.call(fail).result(timeout=10)
        assert scheduler.call(lambda: 7).result(timeout=10) == 7
        assert scheduler.alive
    finally:
        scheduler.stop(10)


def test_calls_are_refused_once_stopped():
    scheduler = Scheduler(Metrics(), max_queue=4)
    scheduler.stop(10)
    with pytest.raises(RuntimeError, match="stopped"):
        scheduler.call(lambda: 1)


def test_voices_and_generation_keep_to_their_threads(folder, tts, tmp_path, monkeypatch):
    """Creating a voice, speaking with a library voice and with an inline one: each model call on the worker
    thread; encoding and loading voices on the voice thread, with one OpenMP thread there."""
    threads = []

    def spy(name, fn):
        def wrapped(*args, **kwargs):
            threads.append((name, threading.current_thread().name.split("_")[0], torch.get_num_threads()))
            return fn(*args, **kwargs)
        return wrapped

    monkeypatch.setattr(tts, "encode_prompt", spy("encode_prompt", tts.encode_prompt))
    monkeypatch.setattr(luxtts.server.speech, "load_voice", spy("load_voice", luxtts.server.speech.load_voice))
    monkeypatch.setattr(luxtts.server.scheduler, "run_batch", spy("run_batch", luxtts.batching.run_batch))
    settings = ServerSettings(model=str(folder), device="cpu", port=free_port(), voices_db=str(tmp_path / "v.db"))
    with live_server(settings, tts) as url:
        assert httpx.post(url + "/v1/audio/voices", **voice_form("v", TRANSCRIPT), timeout=120).status_code == 200
        speech = httpx.post(url + "/v1/audio/speech", json={"model": "luxtts", "voice": "v", "input": "Hello there.",
                                                             "response_format": "pcm"}, timeout=120)
        assert speech.status_code == 200 and speech.content
        inline = {"audio": base64.b64encode(prompt_wav().read_bytes()).decode(), "transcript": TRANSCRIPT}
        speech = httpx.post(url + "/v1/audio/speech", json={"model": "luxtts", "voice": inline,
                                                             "input": "Hello again.", "response_format": "pcm"},
                            timeout=120)
        assert speech.status_code == 200, speech.text
        assert speech.content
    names = {name for name, _, _ in threads}
    assert {"encode_prompt", "load_voice", "run_batch"} <= names, threads
    assert {thread for name, thread, _ in threads if name == "run_batch"} == {WORKER}, threads
    voice_work = [(thread, count) for name, thread, count in threads if name != "run_batch"]
    assert set(voice_work) == {(VOICES, 1)}, threads
