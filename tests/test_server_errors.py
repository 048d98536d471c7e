"""Every bad request of issue 9 gets the right 4xx in OpenAI's error shape, naming the field; the server keeps
serving. Also: the API key (401), a model that is not loaded (503) and unknown routes."""

import httpx
import pytest
from golden_model import pipeline_cases
from server_live import free_port, live_server, voice_form

from luxtts.server.settings import ServerSettings

TRANSCRIPT = pipeline_cases()[0]["prompt_text"]
GOOD = {"model": "tts-1", "voice": "v", "input": "Hi.", "response_format": "pcm"}


@pytest.fixture(scope="module")
def http(folder, tts, tmp_path_factory):
    db = tmp_path_factory.mktemp("voices") / "voices.db"
    settings = ServerSettings(model=str(folder), device="cpu", port=free_port(), voices_db=str(db))
    with live_server(settings, tts) as url, httpx.Client(base_url=url, timeout=120) as client:
        assert client.post("/v1/audio/voices", **voice_form("v", TRANSCRIPT)).status_code == 200
        yield client


def _with(**changes):
    body = dict(GOOD)
    for key, value in changes.items():
        if value is _DROP:
            body.pop(key)
        else:
            body[key] = value
    return body


_DROP = object()

BAD = [
    ("empty input", _with(input=""), "input"),
    ("whitespace input", _with(input=" \n\t "), "input"),
    ("4097 characters", _with(input="a" * 4097), "input"),
    ("no input", _with(input=_DROP), "input"),
    ("input not a string", _with(input=42), "input"),
    ("nothing speakable", _with(input="\U0001f642 ???"), "input"),
    ("unknown voice", _with(voice="nobody"), "voice"),
    ("no voice", _with(voice=_DROP), "voice"),
    ("voice a number", _with(voice=7), "voice"),
    ("voice object without id", _with(voice={"name": "v"}), "voice"),
    ("speed 0", _with(speed=0), "speed"),
    ("speed 5", _with(speed=5), "speed"),
    ("speed a string", _with(speed="fast"), "speed"),
    ("speed NaN-like", _with(speed=True), "speed"),
    ("unknown format", _with(response_format="ogg"), "response_format"),
    ("unknown stream format", _with(stream_format="chunks"), "stream_format"),
    ("seed a float", _with(seed=1.5), "seed"),
    ("negative seed", _with(seed=-1), "seed"),
    ("num_steps 0", _with(num_steps=0), "num_steps"),
    ("guidance a list", _with(guidance_scale=[1]), "guidance_scale"),
    ("t_shift 0", _with(t_shift=0), "t_shift"),
    ("sample_rate 44100", _with(sample_rate=44100), "sample_rate"),
    ("instructions a number", _with(instructions=3), "instructions"),
    ("model empty", _with(model=""), "model"),
    ("unknown field", _with(temperature=0.5), "temperature"),
]


@pytest.mark.parametrize("body, param", [pytest.param(b, p, id=i) for i, b, p in BAD])
def test_bad_speech_request_names_the_field(http, body, param):
    r = http.post("/v1/audio/speech", json=body)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert param in error["message"]


@pytest.mark.parametrize("raw", [b"{not json", b"", b"[1, 2]", b"\xff\xfe", b'"text"'])
def test_malformed_json(http, raw):
    r = http.post("/v1/audio/speech", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert "JSON" in r.json()["error"]["message"]


def test_a_huge_json_body_is_413(http):
    from luxtts.server.speech import json_limit

    # the limit leaves room for an inline voice's upload in base64
    r = http.post("/v1/audio/speech", content=b'{"input": "' + b"a" * json_limit(ServerSettings()) + b'"}',
                  headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"


def test_unknown_routes_and_methods_in_openai_shape(http):
    r = http.get("/v1/nothing")
    assert r.status_code == 404 and "error" in r.json()
    r = http.get("/v1/audio/speech")
    assert r.status_code == 405 and "error" in r.json()


def test_still_serving_after_all_that(http):
    r = http.post("/v1/audio/speech", json=GOOD)
    assert r.status_code == 200 and len(r.content) > 1000
    assert "x-request-id" in r.headers


def test_api_key(folder, tts, tmp_path):
    import openai

    settings = ServerSettings(model=str(folder), device="cpu", port=free_port(), voices_db=str(tmp_path / "v.db"),
                              api_key="s3cret")
    with live_server(settings, tts) as url:
        assert httpx.get(url + "/health").status_code == 200
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic s3cret"}):
            r = httpx.get(url + "/v1/models", headers=headers)
            assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"
            assert r.headers["www-authenticate"] == "Bearer"
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=url + "/v1", api_key="wrong", max_retries=0).models.list()
        assert openai.OpenAI(base_url=url + "/v1", api_key="s3cret", max_retries=0).models.list().data


def test_cors_preflight_passes_the_key_check(folder, tts, tmp_path):
    settings = ServerSettings(model=str(folder), device="cpu", port=free_port(), voices_db=str(tmp_path / "v.db"),
                              api_key="s3cret", cors_origins=("https://app.example",))
    with live_server(settings, tts) as url:
        pre = httpx.options(url + "/v1/audio/speech", headers={
            "Origin": "https://app.example", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type"})
        assert pre.status_code == 200
        assert pre.headers["access-control-allow-origin"] == "https://app.example"
        r = httpx.get(url + "/v1/models", headers={"Origin": "https://app.example", "Authorization": "Bearer s3cret"})
        assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "https://app.example"
        other = httpx.options(url + "/v1/audio/speech", headers={
            "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
        assert "access-control-allow-origin" not in other.headers


def test_503_until_the_model_is_loaded(tmp_path):
    settings = ServerSettings(model=str(tmp_path / "no-model-here"), device="cpu", port=free_port(),
                              voices_db=str(tmp_path / "v.db"))
    with live_server(settings, None, wait_ready=False) as url:
        assert httpx.get(url + "/health").status_code == 200
        ready = httpx.get(url + "/ready")
        assert ready.status_code == 503
        r = httpx.post(url + "/v1/audio/speech", json=GOOD)
        assert r.status_code == 503 and r.headers["retry-after"]
        assert r.json()["error"]["code"] == "model_not_ready"


@pytest.mark.parametrize("argv, field", [
    (["--max-queue", "0"], "max_queue"),
    (["--port", "70000"], "port"),
    (["--max-upload-mb", "0"], "--max-upload-mb"),
    (["--chunk-policy", "shortest"], "--chunk-policy"),
    (["--batch-frames", "0"], "batch_frames"),
])
def test_serve_refuses_bad_settings_before_loading_anything(argv, field, capsys):
    from luxtts.cli import EXIT_USAGE, main

    try:
        code = main(["serve", *argv])
    except SystemExit as e:  # argparse refuses a value outside its choices itself
        code = e.code
    assert code == EXIT_USAGE
    assert field in capsys.readouterr().err


def test_import_luxtts_does_not_load_the_server_extra():
    import subprocess
    import sys

    code = ("import sys, luxtts, luxtts.cli, luxtts.pipeline; "
            "print([m for m in sys.modules if m.split('.')[0] in "
            "('fastapi', 'uvicorn', 'starlette', 'av', 'prometheus_client', 'psycopg', 'openai')])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_serve_exits_1_when_the_model_cannot_load(tmp_path, caplog):
    from luxtts.cli import main

    argv = ["serve", "--model", str(tmp_path / "no-model"), "--voices-db", str(tmp_path / "v.db"),
            "--port", str(free_port())]
    assert main(argv) == 1
    assert "model folder not found" in caplog.text


def test_serve_exits_1_when_the_voice_library_is_unreachable(tmp_path, capsys):
    from luxtts.cli import main

    argv = ["serve", "--model", str(tmp_path), "--voices-db", f"postgresql://nobody@127.0.0.1:{free_port()}/x",
            "--port", str(free_port())]
    assert main(argv) == 1
    assert "voice library" in capsys.readouterr().err
