"""Findings of the 2026-12-02 attack on the server, one test each (issue 20): slow and half-open connections,
a connection cap, upload slots, nested JSON, error bodies that leaked paths and voice names, a FLAC that hid
its length, 405/HEAD/null details, exposure without an API key, and tracebacks in the log."""

import io
import json
import logging
import socket
import threading
import time

import httpx
import numpy as np
import pytest
import soundfile as sf
from audio_samples import flac_without_length
from golden_model import pipeline_cases, prompt_wav
from server_live import free_port, live_server, voice_form

from luxtts.server.settings import ServerSettings

TRANSCRIPT = pipeline_cases()[0]["prompt_text"]
HEADER_TIMEOUT = 1.0
BODY_TIMEOUT = 1.0
MAX_CONNECTIONS = 64


@pytest.fixture(scope="module")
def server(folder, tts, tmp_path_factory):
    db = tmp_path_factory.mktemp("voices") / "voices.db"
    settings = ServerSettings(model=str(folder), device="cpu", port=free_port(), voices_db=str(db),
                              header_timeout=HEADER_TIMEOUT, body_timeout=BODY_TIMEOUT,
                              max_connections=MAX_CONNECTIONS, max_uploads=1, max_upload_seconds=20)
    with live_server(settings, tts) as url:
        assert httpx.post(url + "/v1/audio/voices", **voice_form("alice", TRANSCRIPT), timeout=120).status_code == 200
        yield url, settings


@pytest.fixture
def url(server):
    return server[0]


def _connect(url: str) -> socket.socket:
    host, port = url.rsplit("//", 1)[1].split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    """True if the server closes ``sock`` (EOF or reset) within ``seconds``."""
    sock.settimeout(seconds)
    try:
        while True:
            if not sock.recv(65536):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def test_a_connection_that_never_finishes_its_headers_is_closed(url):
    sock = _connect(url)
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # no blank line: the head never ends
    start = time.monotonic()
    assert _closed_within(sock, HEADER_TIMEOUT + 3)
    assert time.monotonic() - start >= HEADER_TIMEOUT * 0.9
    silent = _connect(url)  # a connection that sends nothing at all
    assert _closed_within(silent, HEADER_TIMEOUT + 3)


def test_a_request_body_that_stalls_is_closed(url):
    sock = _connect(url)
    sock.sendall(b"POST /v1/audio/speech HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 1000\r\n\r\n{\"input\": ")
    assert _closed_within(sock, BODY_TIMEOUT + 3)
    assert httpx.get(url + "/health").status_code == 200


def test_half_open_connections_beyond_the_cap_push_out_the_oldest_and_health_still_answers(url):
    socks = []
    try:
        for _ in range(MAX_CONNECTIONS * 3):
            s = _connect(url)
            s.sendall(b"GET /health HTTP/1.1\r\n")
            socks.append(s)
        start = time.monotonic()
        r = httpx.get(url + "/health", timeout=5)
        assert r.status_code == 200 and time.monotonic() - start < 1.0
        speech = httpx.post(url + "/v1/audio/speech", json={"voice": "alice", "input": "Hi.",
                                                            "response_format": "pcm"}, timeout=120)
        assert speech.status_code == 200 and len(speech.content) > 1000
        # the first ones were pushed out to make room
        assert _closed_within(socks[0], 2)
    finally:
        for s in socks:
            s.close()


def test_uploads_beyond_the_slots_get_429_with_retry_after(url, server):
    """One upload slot here: while one upload is held open (its body still arriving), another gets 429 at once,
    and reads it (its body is read and dropped, not reset)."""
    body = voice_form("slow", TRANSCRIPT)
    request = httpx.Request("POST", url + "/v1/audio/voices", data=body["data"], files=body["files"])
    raw = request.read()
    head = (f"POST /v1/audio/voices HTTP/1.1\r\nHost: x\r\nContent-Type: {request.headers['content-type']}\r\n"
            f"Content-Length: {len(raw)}\r\n\r\n").encode()
    slow = _connect(url)
    try:
        slow.sendall(head + raw[: len(raw) // 2])  # holds the only slot while its body is incomplete
        time.sleep(0.3)
        second = httpx.post(url + "/v1/audio/voices", **voice_form("second", TRANSCRIPT), timeout=30)
        assert second.status_code == 429, second.text
        assert int(second.headers["retry-after"]) >= 1
        assert second.json()["error"]["code"] == "too_many_uploads"
        slow.sendall(raw[len(raw) // 2:])
        slow.settimeout(60)
        assert slow.recv(65536).startswith(b"HTTP/1.1 200 ")
    finally:
        slow.close()
    again = httpx.post(url + "/v1/audio/voices", **voice_form("second", TRANSCRIPT), timeout=60)
    assert again.status_code == 200  # the slot came back


@pytest.mark.parametrize("body", [b"[" * 100_000, b"[" * 50_000 + b"]" * 50_000,
                                  json.dumps({"input": "Hi.", "voice": "alice", "model": "x" * 3} | {
                                      "instructions": None}).encode().replace(b"null", b"[" * 40 + b"]" * 40)])
def test_deeply_nested_json_is_a_400_in_openai_shape(url, body):
    r = httpx.post(url + "/v1/audio/speech", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "invalid_json" and "deeper" in r.json()["error"]["message"]


def test_error_bodies_name_no_path_and_list_no_voices(url, server, tmp_path):
    settings = server[1]
    db_dir = str(settings.voices_db).rsplit("/", 1)[0]
    for name in ("bob", "carol", "dave"):
        assert httpx.post(url + "/v1/audio/voices", **voice_form(name, TRANSCRIPT), timeout=120).status_code == 200
    answers = [
        httpx.get(url + "/v1/audio/voices/zzzzzzzz"),
        httpx.delete(url + "/v1/audio/voices/zzzzzzzz"),
        httpx.get(url + "/v1/audio/voice_consents/cons_0000"),
        httpx.post(url + "/v1/audio/voices", **voice_form("bob", TRANSCRIPT), timeout=120),  # 409
        httpx.post(url + "/v1/audio/voices", data={"name": "eve", "transcript": TRANSCRIPT, "consent": "cons_x"},
                   files=voice_form("x", "y")["files"], timeout=120),
        httpx.post(url + "/v1/audio/speech", json={"voice": "zzzzzzzz", "input": "Hi."}),
    ]
    assert [a.status_code for a in answers] == [404, 404, 404, 409, 400, 400]
    for a in answers:
        text = a.text
        assert db_dir not in text and "voices.db" not in text and "/tmp" not in text, text
        assert "carol" not in text and "dave" not in text, text
    near = httpx.get(url + "/v1/audio/voices/carl").json()["error"]["message"]
    assert "did you mean 'carol'?" in near and "dave" not in near and "bob" not in near


def _flac_without_length(seconds: float, rate: int = 16000) -> bytes:
    noise = (np.random.default_rng(0).standard_normal(int(seconds * rate)) * 0.1).astype(np.float32)
    return flac_without_length(noise, rate)


def test_a_flac_that_does_not_state_its_length_is_measured_by_decoding(url, server):
    limit = server[1].max_upload_seconds
    r = httpx.post(url + "/v1/audio/voices", data={"name": "long-flac", "transcript": TRANSCRIPT},
                   files={"audio_sample": ("a.flac", _flac_without_length(limit + 10), "audio/flac")}, timeout=120)
    assert r.status_code == 413, r.text
    assert r.json()["error"]["code"] == "audio_too_long"
    assert "long-flac" not in [v["name"] for v in httpx.get(url + "/v1/audio/voices").json()["data"]]
    speech, rate = sf.read(prompt_wav(), dtype="float32")
    fits = httpx.post(url + "/v1/audio/voices", data={"name": "streamed-flac", "transcript": TRANSCRIPT},
                      files={"audio_sample": ("a.flac", flac_without_length(speech, rate), "audio/flac")}, timeout=120)
    assert fits.status_code == 200, fits.text  # within the limit, such a file makes a voice


def test_405_allow_lists_every_method_of_the_path_and_head_works_where_get_does(url):
    put = httpx.put(url + "/v1/audio/voices")
    assert put.status_code == 405
    assert set(put.headers["allow"].replace(" ", "").split(",")) == {"GET", "HEAD", "POST"}
    post = httpx.post(url + "/health")
    assert post.status_code == 405 and set(post.headers["allow"].replace(" ", "").split(",")) == {"GET", "HEAD"}
    for path in ("/health", "/ready", "/v1/models", "/v1/audio/voices", "/"):
        head = httpx.head(url + path)
        assert head.status_code == 200 and head.content == b"", path


@pytest.mark.parametrize("field", ["sample_rate", "speed", "response_format", "model", "num_steps",
                                   "guidance_scale", "t_shift", "stream_format", "instructions"])
def test_an_explicit_null_is_refused_naming_the_field(url, field):
    r = httpx.post(url + "/v1/audio/speech", json={"voice": "alice", "input": "Hi.", field: None})
    assert r.status_code == 400 and r.json()["error"]["param"] == field


def test_seed_null_means_a_random_seed(url):
    r = httpx.post(url + "/v1/audio/speech", json={"voice": "alice", "input": "Hi.", "seed": None,
                                                   "response_format": "pcm"}, timeout=120)
    assert r.status_code == 200


@pytest.mark.parametrize("host, key, open_, refused", [
    ("0.0.0.0", None, False, True),
    ("192.168.1.5", None, False, True),
    ("::", None, False, True),
    ("example.org", None, False, True),
    ("0.0.0.0", "k", False, False),
    ("0.0.0.0", None, True, False),
    ("127.0.0.1", None, False, False),
    ("::1", None, False, False),
    ("localhost", None, False, False),
])
def test_listening_beyond_loopback_needs_a_key_or_allow_open(host, key, open_, refused, monkeypatch):
    from luxtts.errors import InvalidOptionError

    monkeypatch.delenv("LUXTTS_API_KEY", raising=False)
    settings = ServerSettings(host=host, api_key=key, allow_open=open_)
    if refused:
        with pytest.raises(InvalidOptionError, match="--allow-open"):
            settings.check_exposure()
    else:
        settings.check_exposure()


def test_serve_on_all_interfaces_without_a_key_exits_with_usage_before_loading(capsys, monkeypatch):
    from luxtts.cli import EXIT_USAGE, main

    monkeypatch.delenv("LUXTTS_API_KEY", raising=False)
    assert main(["serve", "--host", "0.0.0.0", "--model", "/nonexistent"]) == EXIT_USAGE
    assert "--allow-open" in capsys.readouterr().err


def test_an_internal_error_is_one_log_line_and_a_500_without_details(url, server, caplog, monkeypatch):
    state = url.state

    def broken():
        raise RuntimeError("/secret/path/in/the/message")

    monkeypatch.setattr(state.store, "list", broken)
    with caplog.at_level(logging.INFO, logger="luxtts.server"):
        r = httpx.get(url + "/v1/audio/voices")
    assert r.status_code == 500 and r.json()["error"]["code"] == "internal_error"
    assert "secret" not in r.text and "Traceback" not in r.text
    errors = [rec for rec in caplog.records if rec.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info is None and "RuntimeError" in errors[0].getMessage()
    assert httpx.get(url + "/health").status_code == 200


def test_many_parallel_health_checks_during_a_slow_upload(url):
    """The event loop is never blocked by an upload being received."""
    slow = _connect(url)
    try:
        slow.sendall(b"POST /v1/audio/voices HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b"
                     b"\r\nContent-Length: 100000\r\n\r\n--b\r\n")
        results = []

        def check():
            start = time.monotonic()
            results.append((httpx.get(url + "/health").status_code, time.monotonic() - start))

        threads = [threading.Thread(target=check) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert all(code == 200 and took < 1.0 for code, took in results), results
    finally:
        slow.close()


def test_a_large_speech_body_an_inline_voice_holds_an_upload_slot(url):
    """A speech request with an inline voice is an upload too: while one (max_uploads=1 here) is arriving, a
    second large one gets 429; small speech bodies are not held up."""
    import base64

    padded = prompt_wav().read_bytes() + b"\0" * (1024 * 1024)  # past 1 MiB: the size of an inline voice
    body = json.dumps({"voice": {"audio": base64.b64encode(padded).decode(), "transcript": TRANSCRIPT},
                       "input": "Hi.", "response_format": "pcm"}).encode()
    head = (f"POST /v1/audio/speech HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    slow = _connect(url)
    try:
        slow.sendall(head + body[: len(body) // 2])
        time.sleep(0.3)
        second = httpx.post(url + "/v1/audio/speech", content=body, headers={"content-type": "application/json"},
                            timeout=60)
        assert second.status_code == 429 and second.json()["error"]["code"] == "too_many_uploads", second.text
        small = httpx.post(url + "/v1/audio/speech", json={"voice": "alice", "input": "Hi.", "response_format": "pcm"},
                           timeout=120)
        assert small.status_code == 200
    finally:
        slow.close()


def test_the_security_page_quotes_the_defaults_the_server_has():
    import re
    from pathlib import Path

    page = (Path(__file__).resolve().parents[1] / "docs" / "security.md").read_text(encoding="utf-8")
    defaults = {"--max-uploads": ServerSettings.max_uploads, "--max-connections": ServerSettings.max_connections,
                "--header-timeout": ServerSettings.header_timeout, "--body-timeout": ServerSettings.body_timeout,
                "--keep-alive": ServerSettings.keep_alive_timeout, "--max-queue": ServerSettings.max_queue,
                "--max-upload-mb": ServerSettings.max_upload_bytes / (1024 * 1024),
                "--max-upload-seconds": ServerSettings.max_upload_seconds}
    for flag, value in defaults.items():
        quoted = re.search(rf"`{flag}` \[([0-9.]+)\]", page)
        assert quoted is not None, flag
        assert float(quoted.group(1)) == value, flag
