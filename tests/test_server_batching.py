"""The scheduler batching chunks of concurrent requests under a frame budget (``--batch-frames``), on a live
server with the golden model. A CPU gains nothing from batching (its default is one chunk per call), so the
budget is set explicitly here to exercise what a GPU does by default.

Batched audio matches solo audio within the bound that tests/test_batching.py measures (the padding of a
batch moves the last few frames of its shorter items), not sample for sample.
"""

import argparse
import asyncio
import re
import threading
import time

import httpx
import numpy as np
import pytest
from golden_model import pipeline_cases, prompt_wav
from server_live import free_port, live_server, metric, voice_form
from test_batching import MAX_ABS_DIFF, MIN_SNR_DB, _snr_db

from luxtts.server.settings import ServerSettings

TRANSCRIPT = pipeline_cases()[0]["prompt_text"]
# Each needs two or more chunks (the first is cut at its first clause), so requests overlap for several turns.
TEXTS = [
    "Good morning, and welcome to the station. The next train to the city leaves from platform two in ten minutes.",
    "Well, here we are again, my friend. The river is quiet tonight, and the lamps are lit along the bank.",
    "Listen carefully, because this matters. Take the second road on the left, then follow the signs north to the old mill.",
    "Of course, nobody expected rain. We packed sandwiches, two flasks of tea, and a map that was out of date.",
]
BAD = "\U0001f642 ???"  # nothing this model can speak: refused when the request is planned, in the worker
LONG = " ".join(["The quick brown fox jumps over the lazy dog near the quiet river bank."] * 25)


@pytest.fixture(scope="module")
def server(folder, tts, tmp_path_factory):
    db = tmp_path_factory.mktemp("voices") / "voices.db"
    settings = ServerSettings(model=str(folder), device="cpu", port=free_port(), voices_db=str(db), max_queue=16,
                              batch_frames=10**6)
    with live_server(settings, tts) as url:
        assert httpx.post(url + "/v1/audio/voices", **voice_form("v", TRANSCRIPT)).status_code == 200
        yield url, settings


@pytest.fixture(scope="module")
def reference(tts, server):
    """LuxTTS.generate alone, with the server's chunking, at 24 kHz."""
    settings = server[1]
    prompt = tts.encode_prompt(prompt_wav().read_bytes(), text=TRANSCRIPT)
    cache = {}

    def make(text, seed):
        if (text, seed) not in cache:
            cache[text, seed] = tts.generate(text, prompt, seed=seed, sample_rate=24000,
                                             chunk_tokens=settings.chunk_tokens,
                                             chunk_policy=settings.chunk_policy).audio.numpy()
        return cache[text, seed]

    return make


def _metrics(url) -> str:
    return httpx.get(url + "/metrics").text


def _batches(text: str):
    """(model calls, calls with more than one chunk) from the luxtts_batch_size histogram."""
    ones = float(re.search(r'^luxtts_batch_size_bucket\{le="1\.0"\} (\S+)$', text, re.M).group(1))
    calls = metric(text, "luxtts_batch_size_count")
    return calls, calls - ones


def _speak_all(url, bodies):
    async def run():
        async with httpx.AsyncClient(base_url=url, timeout=300) as client:
            return await asyncio.gather(*[client.post("/v1/audio/speech", json=b) for b in bodies])

    return asyncio.run(run())


def _check_audio(pcm: bytes, ref: np.ndarray) -> None:
    got = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
    assert got.shape == ref.shape
    diff = float(np.abs(got - ref).max())
    snr = _snr_db(ref, got)
    assert diff < MAX_ABS_DIFF and snr > MIN_SNR_DB, (diff, snr)


def test_concurrent_requests_share_model_calls(server, reference):
    url = server[0]
    before = _batches(_metrics(url))
    bodies = [{"voice": "v", "input": t, "seed": 20 + i, "response_format": "wav" if i == 0 else "pcm"}
              for i, t in enumerate(TEXTS)]
    responses = _speak_all(url, bodies)
    assert [r.status_code for r in responses] == [200] * len(TEXTS)
    for i, (r, text) in enumerate(zip(responses, TEXTS)):
        pcm = r.content[44:] if i == 0 else r.content
        _check_audio(pcm, reference(text, 20 + i))
    text = _metrics(url)
    calls, batched = (a - b for a, b in zip(_batches(text), before))
    assert batched >= 1, "no model call had chunks of more than one request"
    assert metric(text, "luxtts_batch_size_sum") > metric(text, "luxtts_batch_size_count")
    # fewer calls than chunks: that is the batching
    assert calls < sum(_CHUNKS[t] for t in TEXTS)
    assert metric(text, "luxtts_in_flight") == 0 and metric(text, "luxtts_queue_depth") == 0


_CHUNKS = {}  # text -> how many chunks the server cuts it into


@pytest.fixture(scope="module", autouse=True)
def _plan_counts(tts, server):
    settings = server[1]
    for text in TEXTS + [LONG]:
        _CHUNKS[text] = len(tts._token_chunks(text, settings.chunk_tokens, settings.chunk_policy))
    assert all(_CHUNKS[t] >= 2 for t in TEXTS) and _CHUNKS[LONG] >= 20


def test_one_bad_request_among_good_ones(server, reference):
    url = server[0]
    bodies = [{"voice": "v", "input": t, "seed": 30 + i, "response_format": "pcm"} for i, t in enumerate(TEXTS[:3])]
    bodies.insert(1, {"voice": "v", "input": BAD, "response_format": "pcm"})
    responses = _speak_all(url, bodies)
    bad = responses.pop(1)
    assert bad.status_code == 400
    assert bad.json()["error"]["param"] == "input"
    for i, (r, text) in enumerate(zip(responses, TEXTS[:3])):
        assert r.status_code == 200
        _check_audio(r.content, reference(text, 30 + i))
    text = _metrics(url)
    assert metric(text, "luxtts_in_flight") == 0 and metric(text, "luxtts_queue_depth") == 0


def test_a_disconnect_drops_only_its_own_chunks(server, reference):
    url = server[0]
    before = _metrics(url)
    results = {}

    def speak(i):
        results[i] = httpx.post(url + "/v1/audio/speech", timeout=300,
                                json={"voice": "v", "input": TEXTS[i], "seed": 40 + i, "response_format": "pcm"})

    others = [threading.Thread(target=speak, args=(i,)) for i in (1, 2)]
    with httpx.Client(base_url=url, timeout=120) as client:
        with client.stream("POST", "/v1/audio/speech",
                           json={"voice": "v", "input": LONG, "response_format": "pcm"}) as response:
            assert response.status_code == 200
            for t in others:
                t.start()
            # the others are admitted and have shared a call with the long one before it hangs up
            deadline = time.monotonic() + 60
            while _batches(_metrics(url))[1] <= _batches(before)[1]:
                assert time.monotonic() < deadline, "no batch formed"
                time.sleep(0.01)
            next(response.iter_raw())
    for t in others:
        t.join()
    deadline = time.monotonic() + 60
    while metric(_metrics(url), "luxtts_requests_cancelled_total") <= metric(before, "luxtts_requests_cancelled_total"):
        assert time.monotonic() < deadline, "the server never noticed the disconnect"
        time.sleep(0.05)
    for i in (1, 2):
        assert results[i].status_code == 200
        _check_audio(results[i].content, reference(TEXTS[i], 40 + i))
    after = _metrics(url)
    generated = metric(after, "luxtts_chunks_total") - metric(before, "luxtts_chunks_total")
    dropped = metric(after, "luxtts_chunks_cancelled_total") - metric(before, "luxtts_chunks_cancelled_total")
    assert generated + dropped == _CHUNKS[LONG] + _CHUNKS[TEXTS[1]] + _CHUNKS[TEXTS[2]]
    assert dropped >= 1
    assert metric(after, "luxtts_in_flight") == 0 and metric(after, "luxtts_queue_depth") == 0


def test_batch_frames_setting():
    from luxtts.errors import InvalidOptionError
    from luxtts.server import cli

    parser = argparse.ArgumentParser()
    cli.configure(parser)
    assert cli.settings_from_args(parser.parse_args(["--batch-frames", "8000"])).batch_frames == 8000
    assert cli.settings_from_args(parser.parse_args([])).batch_frames is None  # the device's default
    with pytest.raises(InvalidOptionError, match="batch_frames"):
        ServerSettings(batch_frames=0)


class _FailOnce:
    """The acoustic model of a second LuxTTS, whose first call with more than one chunk raises (a GPU running
    out of memory mid-call, say): nothing a test can make a real model do on demand."""

    def __init__(self, model) -> None:
        self.model = model
        self.failed_batch = 0

    def sample(self, **kw):
        if len(kw["tokens"]) > 1 and not self.failed_batch:
            self.failed_batch = len(kw["tokens"])
            raise RuntimeError("injected failure of a batched model call")
        return self.model.sample(**kw)

    def __getattr__(self, name):
        return getattr(self.model, name)


def test_a_failed_batched_call_ends_its_requests_and_the_worker_goes_on(folder, tmp_path):
    from luxtts import LuxTTS

    tts = LuxTTS.from_pretrained(folder, device="cpu")
    faulty = _FailOnce(tts.model)
    tts.model = faulty
    settings = ServerSettings(model=str(folder), device="cpu", port=free_port(), voices_db=str(tmp_path / "v.db"),
                              max_queue=16, batch_frames=10**6)
    with live_server(settings, tts) as url:
        assert httpx.post(url + "/v1/audio/voices", **voice_form("v", TRANSCRIPT)).status_code == 200
        # one chunk each: a request in the failed call has sent no audio yet, so it gets a clean 500
        bodies = [{"voice": "v", "input": f"Hello number {i}, how are you?", "response_format": "pcm"}
                  for i in range(5)]
        statuses = [r.status_code for r in _speak_all(url, bodies)]
        assert faulty.failed_batch >= 2
        assert sorted(statuses) == [200] * (5 - faulty.failed_batch) + [500] * faulty.failed_batch
        again = httpx.post(url + "/v1/audio/speech", timeout=120, json={"voice": "v", "input": "Still here."})
        assert again.status_code == 200 and len(again.content) > 1000
        text = _metrics(url)
        assert metric(text, "luxtts_in_flight") == 0 and metric(text, "luxtts_queue_depth") == 0
