"""The web page at / in a real headless Chromium (Debian's package, driven by Playwright) against a live server.

The server runs on 127.0.0.1 with the golden model folder; the browser uploads the ARCTIC prompt as a voice,
records another through Chromium's fake microphone (fed the same recording), speaks a sentence, and the audio
that arrived is checked three ways: the page's own decode, the downloaded WAV read by soundfile, and the same
request made directly over HTTP (same seed, so the same samples).
"""

from __future__ import annotations

import base64
import json
import re
import time
from pathlib import Path
from types import SimpleNamespace

import httpx
import numpy as np
import pytest
import soundfile as sf
from playwright.sync_api import expect, sync_playwright

from golden_model import pipeline_cases, prompt_wav
from server_live import free_port, live_server

CHROMIUM = "/usr/bin/chromium"
RATE = 48000
SEED = 1234
TIMEOUT_MS = 120_000
expect.set_options(timeout=TIMEOUT_MS)  # a shared, busy machine: first audio can take a while


@pytest.fixture(scope="module")
def server(folder, tts, tmp_path_factory):
    from luxtts.server.settings import ServerSettings

    home = tmp_path_factory.mktemp("luxtts_home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LUXTTS_HOME", str(home))
        mp.delenv("LUXTTS_API_KEY", raising=False)
        settings = ServerSettings(model=str(folder), device="cpu", voices_db=str(home / "voices.sqlite"),
                                  port=free_port())
        with live_server(settings, tts) as url:
            yield SimpleNamespace(url=url)


@pytest.fixture(scope="module")
def browser():
    # --no-sandbox: CI runs as root. The fake microphone plays the ARCTIC prompt (once, then silence).
    args = [
        "--no-sandbox",
        "--autoplay-policy=no-user-gesture-required",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={prompt_wav()}%noloop",
    ]
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=args)
        yield b
        b.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(accept_downloads=True, viewport={"width": 1000, "height": 1200})
    context.grant_permissions(["microphone"], origin=server.url)
    pg = context.new_page()
    pg.set_default_timeout(TIMEOUT_MS)
    pg.page_errors = []
    pg.on("pageerror", lambda exc: pg.page_errors.append(str(exc)))
    pg.goto(server.url + "/")
    expect(pg.locator("body")).to_have_attribute("data-ready", "1")
    yield pg
    context.close()


def sse_pcm(url: str, body: dict) -> np.ndarray:
    """The same request the page makes, over plain HTTP: int16 samples from the speech.audio.delta events."""
    chunks, done = [], False
    with httpx.stream("POST", url + "/v1/audio/speech", json=body, timeout=TIMEOUT_MS / 1000) as resp:
        assert resp.status_code == 200, resp.read()
        for line in resp.iter_lines():
            if not line.startswith("data:"):
                continue
            event = json.loads(line[5:].strip())
            if event["type"] == "speech.audio.delta":
                chunks.append(base64.b64decode(event["audio"]))
            elif event["type"] == "speech.audio.done":
                done = True
    assert done
    return np.frombuffer(b"".join(chunks), dtype="<i2")


def upload_voice(page, name: str, transcript: str, path: Path | None = None) -> None:
    page.fill("#voice-name", name)
    if path is not None:
        page.set_input_files("#voice-file", str(path))
    page.fill("#voice-transcript", transcript)
    page.click("#voice-upload")


def test_page_uploads_a_voice_speaks_streams_and_downloads(page, server, tmp_path):
    case = pipeline_cases()[0]
    upload_voice(page, "arctic", case["prompt_text"], prompt_wav())
    expect(page.locator("#status")).to_contain_text('Saved voice "arctic"')
    expect(page.locator("#voice option:checked")).to_have_text("arctic")
    voice_id = page.locator("#voice").input_value()
    listed = httpx.get(server.url + "/v1/audio/voices").json()["data"]
    assert [v["name"] for v in listed if v["id"] == voice_id] == ["arctic"]

    page.fill("#text", case["text"])
    page.click("details:has(#seed) > summary")
    page.fill("#seed", str(SEED))
    page.select_option("#rate", str(RATE))
    page.click("#speak")
    stats = page.locator("#stats")
    expect(stats).to_have_attribute("data-state", re.compile("done|error"), timeout=TIMEOUT_MS)
    assert page.locator("#error").is_hidden(), page.locator("#error").inner_text()
    assert stats.get_attribute("data-state") == "done"

    samples = int(stats.get_attribute("data-samples"))
    assert samples > RATE // 2  # a whole sentence: well over half a second
    assert int(stats.get_attribute("data-sample-rate")) == RATE
    # The browser's own decoder read the assembled WAV back at full length: it is playable.
    assert int(stats.get_attribute("data-decoded-samples")) == samples
    # Streamed: the server cuts the first text chunk short, so the sentence arrives in more than one piece.
    assert int(stats.get_attribute("data-chunks")) >= 2
    assert int(stats.get_attribute("data-ttfa-ms")) >= 0
    assert re.fullmatch(r"\d+ ms", page.inner_text("#ttfa"))
    assert re.fullmatch(r"\d+\.\d{3}", page.inner_text("#rtf"))
    assert page.inner_text("#duration") == f"{samples / RATE:.2f} s"
    expect(page.locator("#player")).to_be_visible()

    page.screenshot(path=str(tmp_path / "page.png"), full_page=True)

    with page.expect_download() as info:
        page.click("#download")
    saved = tmp_path / "download.wav"
    info.value.save_as(saved)
    audio, rate = sf.read(saved, dtype="int16")
    assert rate == RATE and audio.ndim == 1 and audio.shape[0] == samples
    assert np.abs(audio.astype(np.float64)).mean() > 100  # speech, not silence

    # Same request without the browser: the samples the page played and saved are exactly the server's.
    direct = sse_pcm(server.url, {"model": "luxtts", "input": case["text"], "voice": voice_id,
                                  "response_format": "pcm", "stream_format": "sse", "speed": 1.0,
                                  "sample_rate": RATE, "seed": SEED})
    np.testing.assert_array_equal(audio, direct)
    assert page.page_errors == []


def test_page_records_a_voice_with_the_microphone(page, server):
    page.click("#record")
    expect(page.locator("#record-stop")).to_be_enabled()
    page.wait_for_timeout(3500)
    page.click("#record-stop")
    status = page.locator("#record-status")
    expect(status).to_have_attribute("data-seconds", re.compile(r"\d"))
    assert 2.0 < float(status.get_attribute("data-seconds")) < 10.0
    expect(page.locator("#record-preview")).to_be_visible()
    upload_voice(page, "microphone", pipeline_cases()[0]["prompt_text"])
    expect(page.locator("#status")).to_contain_text('Saved voice "microphone"')
    expect(page.locator("#voice option:checked")).to_have_text("microphone")
    names = [v["name"] for v in httpx.get(server.url + "/v1/audio/voices").json()["data"]]
    assert "microphone" in names
    assert page.page_errors == []


def test_page_shows_the_servers_error_message(page, server, tmp_path):
    bogus = tmp_path / "notes.wav"
    bogus.write_bytes(b"this is a text file, not a recording\n" * 20)
    before = httpx.get(server.url + "/v1/audio/voices").json()["data"]
    upload_voice(page, "bogus", "some words", bogus)
    error = page.locator("#error")
    expect(error).to_be_visible()
    # The OpenAI-shaped error reaches the user: its message, the field at fault and the HTTP status.
    expect(error).to_contain_text("Could not save the voice")
    expect(error).to_contain_text("audio_sample")
    expect(error).to_contain_text(re.compile(r"HTTP 4\d\d"))
    assert httpx.get(server.url + "/v1/audio/voices").json()["data"] == before

    page.fill("#text", "   ")
    page.click("#speak")
    expect(error).to_contain_text("Text: type something to speak")
    assert page.page_errors == []


def test_page_asks_for_the_api_key_and_uses_it(browser, folder, tts, tmp_path):
    from luxtts.server.settings import ServerSettings

    settings = ServerSettings(model=str(folder), device="cpu", voices_db=str(tmp_path / "voices.sqlite"),
                              port=free_port(), api_key="s3cret-key")
    with live_server(settings, tts) as url:
        context = browser.new_context()
        pg = context.new_page()
        pg.set_default_timeout(TIMEOUT_MS)
        pg.goto(url + "/")  # the page itself needs no key; the API behind it does
        error = pg.locator("#error")
        expect(error).to_contain_text("API key")
        expect(error).to_contain_text("HTTP 401")
        expect(pg.locator("#api-key")).to_be_visible()
        pg.fill("#api-key", "s3cret-key")
        pg.press("#api-key", "Enter")
        expect(error).to_be_hidden()
        expect(pg.locator("#voice option")).to_have_text(["(no voices yet: add one below)"])
        expect(pg.locator("#server-info")).to_have_text("Model: luxtts")
        context.close()


def test_page_files_are_served_from_a_fixed_list(server):
    index = httpx.get(server.url + "/")
    assert index.status_code == 200 and index.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in index.headers["content-security-policy"]  # nothing loads from elsewhere
    assert not re.search(r"(src|href)=\"(https?:)?//", index.text)
    for name, kind in (("app.js", "text/javascript"), ("style.css", "text/css")):
        resp = httpx.get(f"{server.url}/static/{name}")
        assert resp.status_code == 200 and resp.headers["content-type"].startswith(kind)
        assert "http://" not in resp.text and "https://" not in resp.text
    assert httpx.head(server.url + "/").status_code == 200
    for path in ("/static/page.py", "/static/..%2Fpage.py", "/static/%2e%2e/__init__.py", "/static/", "/static/x.html"):
        resp = httpx.get(server.url + path)
        assert resp.status_code == 404, path
        assert resp.json()["error"]["message"], path


def cancelled_requests(url: str) -> float:
    text = httpx.get(url + "/metrics").text
    return sum(float(line.split()[-1]) for line in text.splitlines()
               if line.startswith("luxtts_requests_cancelled_total"))


def test_page_stop_keeps_what_arrived_and_cancels_the_rest(page, server):
    voices = httpx.get(server.url + "/v1/audio/voices").json()["data"]
    if not any(v["name"] == "arctic" for v in voices):
        with open(prompt_wav(), "rb") as f:
            form = {"name": "arctic", "transcript": pipeline_cases()[0]["prompt_text"]}
            httpx.post(server.url + "/v1/audio/voices", data=form, files={"audio_sample": ("prompt.wav", f, "audio/wav")},
                       timeout=120).raise_for_status()
        page.click("#refresh-voices")
    page.select_option("#voice", label="arctic")
    long_text = " ".join(c["text"] for c in pipeline_cases()) * 4  # many chunks: still running when stopped
    page.fill("#text", long_text[:4000])
    before = cancelled_requests(server.url)
    page.click("#speak")
    stats = page.locator("#stats")
    expect(stats).to_have_attribute("data-chunks", re.compile(r"\d"))
    page.click("#stop")
    expect(stats).to_have_attribute("data-state", "stopped")
    expect(page.locator("#status")).to_have_text("Stopped.")
    assert page.locator("#error").is_hidden()
    # What had arrived stays playable and downloadable.
    samples = int(stats.get_attribute("data-samples"))
    assert samples > 0 and int(stats.get_attribute("data-decoded-samples")) == samples
    expect(page.locator("#download")).to_be_visible()
    # The server saw the hang-up and dropped the request's remaining chunks.
    expect_by = time.monotonic() + 60
    while cancelled_requests(server.url) <= before:
        assert time.monotonic() < expect_by, "the server never counted the stopped request as cancelled"
        time.sleep(0.2)
    assert page.page_errors == []
