"""POST /v1/audio/speech through the official openai SDK against a live server on the golden model."""

import base64
import json

import httpx
import numpy as np
import pytest
from golden_model import pipeline_cases, prompt_wav
from server_live import decode_audio, free_port, live_server

from luxtts.server.codecs import to_int16
from luxtts.server.settings import ServerSettings

TRANSCRIPT = pipeline_cases()[0]["prompt_text"]
SHORT = "Hello there, my friend."
# Two sentences, more than one chunk: the first is cut short (chunk_policy first_clause), so the audio comes in
# several pieces.
LONG = "Good morning, and welcome to the station. The next train to the city leaves from platform two in ten minutes."
# What the lossy codecs may add or drop at the edges (encoder delay and frame padding), in samples at 24 kHz.
CODEC_SLACK = {"mp3": 2 * 1152 + 1105, "aac": 2 * 1024 + 1024, "opus": 960}


@pytest.fixture(scope="module")
def server(folder, tts, tmp_path_factory):
    db = tmp_path_factory.mktemp("voices") / "voices.db"
    settings = ServerSettings(model=str(folder), device="cpu", port=free_port(), voices_db=str(db), max_queue=8)
    with live_server(settings, tts) as url:
        yield url, settings


@pytest.fixture(scope="module")
def client(server):
    import openai

    return openai.OpenAI(base_url=server[0] + "/v1", api_key="unused", max_retries=0, timeout=120)


@pytest.fixture(scope="module")
def voice(client):
    wav = prompt_wav().read_bytes()
    consent = client.audio.voice_consents.create(language="en-US", name="arctic speaker",
                                                 recording=("consent.wav", wav, "audio/wav"))
    return client.audio.voices.create(name="arctic", audio_sample=("arctic.wav", wav, "audio/wav"),
                                      consent=consent.id, extra_body={"transcript": TRANSCRIPT})


@pytest.fixture(scope="module")
def reference(tts, server):
    """What LuxTTS.generate makes for the same input, chunking and seed as the server."""
    settings = server[1]
    prompt = tts.encode_prompt(prompt_wav().read_bytes(), text=TRANSCRIPT)
    cache = {}

    def make(text, seed, sample_rate=24000, **kw):
        key = (text, seed, sample_rate, tuple(sorted(kw.items())))
        if key not in cache:
            cache[key] = tts.generate(text, prompt, seed=seed, sample_rate=sample_rate,
                                      chunk_tokens=settings.chunk_tokens,
                                      chunk_policy=settings.chunk_policy, **kw).audio.numpy()
        return cache[key]

    return make


def test_models_lists_the_served_model(client, server):
    assert [m.id for m in client.models.list().data] == [server[1].model_name]


@pytest.mark.parametrize("fmt", ["mp3", "opus", "aac", "flac", "wav", "pcm"])
def test_every_format_decodes_to_the_expected_length(client, voice, reference, fmt):
    response = client.audio.speech.create(model="tts-1", voice=voice.id, input=SHORT, response_format=fmt,
                                          extra_body={"seed": 7})
    audio = decode_audio(response.content, fmt, 24000)
    expected = reference(SHORT, 7).shape[0]
    assert abs(audio.shape[0] - expected) <= CODEC_SLACK.get(fmt, 0), (audio.shape[0], expected)
    assert np.abs(audio).max() > 0.01  # not silence


@pytest.mark.parametrize("fmt", ["wav", "pcm"])
@pytest.mark.parametrize("rate", [24000, 48000])
def test_seeded_output_equals_luxtts_generate_sample_for_sample(client, voice, reference, fmt, rate):
    response = client.audio.speech.create(model="tts-1", voice="arctic", input=LONG, response_format=fmt,
                                          extra_body={"seed": 11, "sample_rate": rate})
    got = response.content
    if fmt == "wav":
        assert got[:4] == b"RIFF" and got[8:12] == b"WAVE"
        assert int.from_bytes(got[24:28], "little") == rate
        got = got[44:]
    np.testing.assert_array_equal(np.frombuffer(got, dtype="<i2"), to_int16(reference(LONG, 11, rate)))


def test_streaming_response_arrives_in_pieces_and_joins_to_the_whole(client, voice, reference):
    pieces = []
    with client.audio.speech.with_streaming_response.create(
            model="tts-1", voice={"id": voice.id}, input=LONG, response_format="pcm",
            extra_body={"seed": 11}) as response:
        assert response.headers["content-type"] == "audio/pcm"
        for data in response.iter_bytes(chunk_size=None):
            pieces.append(data)
    assert len(pieces) >= 2  # the first chunk was sent before the rest was made
    np.testing.assert_array_equal(np.frombuffer(b"".join(pieces), dtype="<i2"), to_int16(reference(LONG, 11)))


def _wav_sizes(data: bytes):
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE" and data[36:40] == b"data"
    return int.from_bytes(data[4:8], "little"), int.from_bytes(data[40:44], "little")


def test_a_wav_sent_whole_carries_its_true_sizes(client, voice, reference):
    import io
    import wave

    raw = client.audio.speech.with_raw_response.create(model="tts-1", voice="arctic", input=LONG,
                                                       response_format="wav", extra_body={"seed": 11})
    data = raw.content
    assert int(raw.headers["content-length"]) == len(data)
    assert _wav_sizes(data) == (len(data) - 8, len(data) - 44)
    with wave.open(io.BytesIO(data)) as w:  # Python's reader: the true length, not 24.8 hours
        assert w.getnframes() == reference(LONG, 11).shape[0]
        assert w.getnframes() / w.getframerate() < 30
    # said in the request: whole even through the SDK's streaming response
    with client.audio.speech.with_streaming_response.create(
            model="tts-1", voice="arctic", input=SHORT, response_format="wav",
            extra_body={"seed": 1, "stream": False}) as response:
        data = response.read()
    assert _wav_sizes(data) == (len(data) - 8, len(data) - 44)


def test_a_streamed_wav_keeps_the_open_ended_header(client, voice, reference):
    with client.audio.speech.with_streaming_response.create(
            model="tts-1", voice="arctic", input=LONG, response_format="wav", extra_body={"seed": 11}) as response:
        assert "content-length" not in response.headers
        pieces = list(response.iter_bytes(chunk_size=None))
    assert len(pieces) >= 2
    data = b"".join(pieces)
    assert _wav_sizes(data) == (0xFFFFFFFF, 0xFFFFFFFF)
    np.testing.assert_array_equal(np.frombuffer(data[44:], dtype="<i2"), to_int16(reference(LONG, 11)))
    streamed = client.audio.speech.create(model="tts-1", voice="arctic", input=SHORT, response_format="wav",
                                          extra_body={"stream": True})
    assert _wav_sizes(streamed.content) == (0xFFFFFFFF, 0xFFFFFFFF)


def test_a_client_that_leaves_before_a_whole_wav_is_made_cancels_it(server, voice, monkeypatch):
    import socket
    import threading
    import time

    import luxtts.server.scheduler as scheduler
    from server_live import metric

    real, reached, release = scheduler.run_batch, threading.Event(), threading.Event()
    calls = []

    def gated(*args, **kwargs):  # the second model call waits until the client has gone
        calls.append(1)
        if len(calls) == 2:
            reached.set()
            release.wait(60)
        return real(*args, **kwargs)

    monkeypatch.setattr(scheduler, "run_batch", gated)
    url = server[0]
    before = metric(httpx.get(url + "/metrics").text, "luxtts_requests_cancelled_total")
    body = json.dumps({"voice": "arctic", "input": LONG, "response_format": "wav"}).encode()
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(b"POST /v1/audio/speech HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body) + body)
        assert reached.wait(60)
    release.set()
    deadline = time.monotonic() + 60
    while metric(httpx.get(url + "/metrics").text, "luxtts_requests_cancelled_total") <= before:
        assert time.monotonic() < deadline, "the server never noticed the disconnect"
        time.sleep(0.05)


def test_stream_must_be_a_boolean(server):
    response = httpx.post(server[0] + "/v1/audio/speech", json={"input": "Hi.", "voice": "arctic", "stream": "yes"})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "stream"


def test_sse_events_carry_the_audio_then_usage(client, voice, reference):
    with client.audio.speech.with_streaming_response.create(
            model="tts-1", voice="arctic", input=LONG, response_format="pcm", stream_format="sse",
            extra_body={"seed": 11}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line.startswith("data: ")]
    events = [json.loads(line[len("data: "):]) for line in lines]
    assert [e["type"] for e in events[:-1]] == ["speech.audio.delta"] * (len(events) - 1)
    assert len(events) >= 3
    done = events[-1]
    assert done["type"] == "speech.audio.done"
    usage = done["usage"]
    assert usage["input_tokens"] > 0 and usage["output_tokens"] > 0
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    pcm = b"".join(base64.b64decode(e["audio"]) for e in events[:-1])
    np.testing.assert_array_equal(np.frombuffer(pcm, dtype="<i2"), to_int16(reference(LONG, 11)))


def test_extensions_and_speed_reach_the_model(client, voice, reference):
    kw = {"num_steps": 2, "guidance_scale": 1.5, "t_shift": 0.7}
    response = client.audio.speech.create(model="tts-1", voice="arctic", input=SHORT, response_format="pcm",
                                          speed=1.5, instructions="Speak cheerfully.",
                                          extra_body={"seed": 5, **kw})
    expected = reference(SHORT, 5, speed=1.5, **kw)
    np.testing.assert_array_equal(np.frombuffer(response.content, dtype="<i2"), to_int16(expected))
    slow = client.audio.speech.create(model="tts-1", voice="arctic", input=SHORT, response_format="pcm",
                                      speed=0.5, extra_body={"seed": 5})
    assert len(slow.content) > 2 * len(response.content)


def test_health_ready_and_metrics(server, client, voice):
    url = server[0]
    assert httpx.get(url + "/health").json() == {"status": "ok"}
    assert httpx.get(url + "/ready").status_code == 200
    client.audio.speech.create(model="tts-1", voice="arctic", input=SHORT, response_format="pcm")
    text = httpx.get(url + "/metrics").text
    for name in ("luxtts_requests_total", "luxtts_queue_depth", "luxtts_in_flight",
                 "luxtts_time_to_first_audio_seconds_bucket", "luxtts_request_latency_seconds_bucket",
                 "luxtts_audio_seconds_total", "luxtts_rtf_bucket"):
        assert name in text
    assert 'luxtts_requests_total{route="/v1/audio/speech",status="200"}' in text
    assert _metric(text, "luxtts_audio_seconds_total") > 0


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in /metrics")


def test_first_chunk_is_cut_short_and_nothing_is_lost(tts):
    text = LONG + " " + LONG
    plain = tts._token_chunks(text, 100, "fewest")
    short = tts._token_chunks(text, 100, "first_clause")
    assert len(short[0]) < len(plain[0])
    assert sum(short, []) == sum(plain, [])
    assert all(len(c) <= 100 for c in short)
    assert tts._token_chunks("Hi.", 100, "first_clause") == tts._token_chunks("Hi.", 100, "fewest")
