"""The scheduler under load: a full queue answers 429 (never an error), a disconnect cancels the rest of its
work, a short request is not held up behind a long one, and SIGTERM drains requests in progress."""

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time

import httpx
import numpy as np
import pytest
from golden_model import pipeline_cases
from server_live import free_port, live_server, metric, voice_form

from luxtts.server.settings import ServerSettings

TRANSCRIPT = pipeline_cases()[0]["prompt_text"]
LONG = " ".join(["The quick brown fox jumps over the lazy dog near the quiet river bank."] * 5)


@pytest.fixture(scope="module")
def url(folder, tts, tmp_path_factory):
    db = tmp_path_factory.mktemp("voices") / "voices.db"
    settings = ServerSettings(model=str(folder), device="cpu", port=free_port(), voices_db=str(db), max_queue=8)
    with live_server(settings, tts) as base:
        assert httpx.post(base + "/v1/audio/voices", **voice_form("v", TRANSCRIPT)).status_code == 200
        yield base


def _metrics(url) -> str:
    return httpx.get(url + "/metrics").text


def test_100_requests_at_once_on_a_queue_of_8(url):
    async def run():
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=url, timeout=300, limits=limits) as client:
            body = {"model": "tts-1", "voice": "v", "input": "Hi there.", "response_format": "pcm"}
            return await asyncio.gather(*[client.post("/v1/audio/speech", json=body) for _ in range(100)])

    responses = asyncio.run(run())
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 429}, statuses
    assert statuses.count(200) >= 8 and statuses.count(429) >= 1
    for r in responses:
        if r.status_code == 429:
            assert int(r.headers["retry-after"]) >= 1
            assert r.json()["error"]["type"] == "rate_limit_error"
        else:
            assert len(r.content) > 1000
    text = _metrics(url)
    assert metric(text, "luxtts_requests_rejected_total") == statuses.count(429)
    assert metric(text, "luxtts_in_flight") == 0 and metric(text, "luxtts_queue_depth") == 0
    assert httpx.post(url + "/v1/audio/speech", json={"voice": "v", "input": "Still here."}).status_code == 200


def test_a_disconnect_cancels_the_remaining_chunks(url, tts):
    # long enough that it cannot all be made before the hang-up is noticed, even on a loaded machine
    text = " ".join([LONG] * 5)
    planned = len(tts._token_chunks(text, 100, "first_clause"))
    assert planned >= 20
    before = _metrics(url)
    with httpx.Client(base_url=url, timeout=120) as client:
        with client.stream("POST", "/v1/audio/speech",
                           json={"voice": "v", "input": text, "response_format": "pcm"}) as response:
            assert response.status_code == 200
            next(response.iter_raw())  # the first chunk arrived; now hang up
    deadline = time.monotonic() + 60
    while metric(_metrics(url), "luxtts_requests_cancelled_total") <= metric(before, "luxtts_requests_cancelled_total"):
        assert time.monotonic() < deadline, "the server never noticed the disconnect"
        time.sleep(0.05)
    after = _metrics(url)
    generated = metric(after, "luxtts_chunks_total") - metric(before, "luxtts_chunks_total")
    dropped = metric(after, "luxtts_chunks_cancelled_total") - metric(before, "luxtts_chunks_cancelled_total")
    assert generated + dropped == planned
    assert dropped >= 1 and generated < planned
    assert metric(after, "luxtts_in_flight") == 0


def test_a_short_request_is_not_held_up_by_a_long_one(url):
    finished = []

    def speak(name, text):
        r = httpx.post(url + "/v1/audio/speech", json={"voice": "v", "input": text, "response_format": "pcm"},
                       timeout=300)
        assert r.status_code == 200
        finished.append(name)

    long = threading.Thread(target=speak, args=("long", LONG))
    long.start()
    deadline = time.monotonic() + 60
    while metric(_metrics(url), "luxtts_in_flight") < 1:  # the long one is admitted first
        assert time.monotonic() < deadline
        time.sleep(0.01)
    speak("short", "Hello.")
    long.join()
    assert finished == ["short", "long"]


def test_sigterm_drains_requests_in_progress(folder, tmp_path):
    port = free_port()
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join(filter(None, [
        os.getcwd(), os.environ.get("PYTHONPATH")])))
    cmd = [sys.executable, "-m", "luxtts", "serve", "--model", str(folder), "--device", "cpu", "--port", str(port),
           "--voices-db", str(tmp_path / "v.db")]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(base + "/ready").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read() if proc.poll() else ""
            time.sleep(0.1)
        assert httpx.post(base + "/v1/audio/voices", **voice_form("v", TRANSCRIPT)).status_code == 200
        text = "One moment please. The quick brown fox jumps over the lazy dog."
        with httpx.Client(base_url=base, timeout=120) as client:
            with client.stream("POST", "/v1/audio/speech",
                               json={"voice": "v", "input": text, "response_format": "pcm", "seed": 1}) as response:
                pieces = response.iter_raw()
                received = [next(pieces)]
                proc.send_signal(signal.SIGTERM)
                received.extend(pieces)  # the rest still comes, to the end
        audio = np.frombuffer(b"".join(received), dtype="<i2")
        assert len(received) >= 2 and audio.size > 24000
        assert proc.wait(60) == 0
        log = proc.stdout.read()
        assert f"http://127.0.0.1:{port}" in log
        assert text not in log  # nothing of a request's input is logged
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_new_request_goes_ahead_of_the_started_ones_behind_other_new_ones():
    import collections
    from types import SimpleNamespace

    from luxtts.server.scheduler import queue_new_job

    def job(name, started):
        return SimpleNamespace(id=name, started=started)

    jobs = collections.deque([job("new1", False), job("a", True), job("b", True)])
    queue_new_job(jobs, job("new2", False))
    assert [j.id for j in jobs] == ["new1", "new2", "a", "b"]
    queue_new_job(jobs, job("new3", False))
    assert [j.id for j in jobs] == ["new1", "new2", "new3", "a", "b"]
    only_new = collections.deque([job("x", False)])
    queue_new_job(only_new, job("y", False))
    assert [j.id for j in only_new] == ["x", "y"]
    empty = collections.deque()
    queue_new_job(empty, job("z", False))
    assert [j.id for j in empty] == ["z"]
