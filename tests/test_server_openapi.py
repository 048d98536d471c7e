"""/openapi.json describes every route, and a property-based API fuzzer (schemathesis, every check, its stateful
phase included) finds no server error and no answer that breaks the schema, on a throwaway library."""

import subprocess
import sys
import textwrap

import httpx
import pytest
from golden_model import pipeline_cases
from server_live import free_port, live_server, voice_form

from luxtts.server.settings import ServerSettings

TRANSCRIPT = pipeline_cases()[0]["prompt_text"]
# The fuzzer's budget, in examples per operation (about 25 s here; --max-time would make it fill the time instead).
MAX_EXAMPLES = 100
MAX_SECONDS = 300
# Where schema-valid data may still be refused (400): a schema cannot say "a decodable recording of speech",
# that a voice name exists, or that a text holds something speakable.
CONFIG = textwrap.dedent("""
    [[operations]]
    include-path-regex = "^/v1/audio/(voices|voice_consents)$"
    include-method = "POST"
    checks.positive_data_acceptance.expected-statuses = ["200", "400", "409", "413", "429"]

    [[operations]]
    include-path = "/v1/audio/voice_aliases/{alias}"
    checks.positive_data_acceptance.expected-statuses = ["200", "400", "404", "409"]

    [[operations]]
    include-path = "/v1/audio/speech"
    include-method = "POST"
    checks.positive_data_acceptance.expected-statuses = ["200", "400", "429"]
""")


@pytest.fixture(scope="module")
def url(folder, tts, tmp_path_factory):
    db = tmp_path_factory.mktemp("fuzzed-library") / "voices.db"
    settings = ServerSettings(model=str(folder), device="cpu", port=free_port(), voices_db=str(db), max_uploads=4)
    with live_server(settings, tts) as base:
        assert httpx.post(base + "/v1/audio/voices", **voice_form("alice", TRANSCRIPT), timeout=120).status_code == 200
        yield base


def test_the_schema_describes_every_route_with_its_bodies(url):
    schema = httpx.get(url + "/openapi.json").json()
    assert schema["openapi"].startswith("3.")
    routes = {(p, m) for p, ops in schema["paths"].items() for m in ops}
    assert routes == {
        ("/health", "get"), ("/ready", "get"), ("/metrics", "get"), ("/v1/models", "get"),
        ("/v1/models/{model_id}", "get"), ("/v1/audio/speech", "post"), ("/v1/audio/voices", "get"),
        ("/v1/audio/voices", "post"), ("/v1/audio/voices/{voice_id}", "get"),
        ("/v1/audio/voices/{voice_id}", "delete"), ("/v1/audio/voice_consents", "post"),
        ("/v1/audio/voice_consents/{consent_id}", "get"), ("/v1/audio/voice_aliases", "get"),
        ("/v1/audio/voice_aliases/{alias}", "put"), ("/v1/audio/voice_aliases/{alias}", "delete")}
    components = schema["components"]["schemas"]
    speech = schema["paths"]["/v1/audio/speech"]["post"]
    assert speech["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/SpeechBody")
    assert set(components["SpeechBody"]["properties"]) >= {"input", "voice", "response_format", "speed"}
    assert {"audio/wav", "audio/mpeg", "audio/pcm", "text/event-stream"} <= set(speech["responses"]["200"]["content"])
    upload = schema["paths"]["/v1/audio/voices"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert components["VoiceUpload"]["properties"]["audio_sample"]["format"] == "binary"
    assert "audio/wav" in upload["encoding"]["audio_sample"]["contentType"]
    for path, ops in schema["paths"].items():
        for method, op in ops.items():
            for status, answer in op["responses"].items():
                if status.startswith(("4", "5")) and path != "/ready":  # /ready's 503 is its own status body
                    assert answer["content"]["application/json"]["schema"]["$ref"].endswith("/Error"), (path, status)
            assert "422" not in op["responses"], (path, method)


def test_a_fuzzer_finds_no_server_error_and_no_schema_violation(url, tmp_path):
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    cmd = [sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "run", url + "/openapi.json",
           "--checks", "all", "--phases", "examples,coverage,fuzzing,stateful", "--max-examples", str(MAX_EXAMPLES),
           "--seed", "20", "--workers", "1", "--continue-on-failure", "--request-timeout", "60", "--no-color"]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=MAX_SECONDS, cwd=tmp_path)  # its cache goes there
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-6000:]
    assert "Stateful" in out and "15 selected / 15 total" in out, out[-3000:]
    assert httpx.get(url + "/health").status_code == 200
