"""Requests naming OpenAI's built-in voices (what clients send by default) reach a library voice."""

import httpx
import pytest
from golden_model import pipeline_cases
from server_live import free_port, live_server, voice_form

from luxtts.server.settings import ServerSettings
from luxtts.server.voice_names import OPENAI_VOICES

TRANSCRIPT = pipeline_cases()[0]["prompt_text"]
TEXT = "Hello there, my friend."


def speak(url: str, voice, **extra) -> httpx.Response:
    return httpx.post(url + "/v1/audio/speech", timeout=120,
                      json={"model": "tts-1", "voice": voice, "input": TEXT, "response_format": "pcm", "seed": 3,
                            **extra})


def add_voice(url: str, name: str, transcript: str = TRANSCRIPT) -> None:
    response = httpx.post(url + "/v1/audio/voices", timeout=120, **voice_form(name, transcript))
    assert response.status_code == 200, response.text


@pytest.fixture(scope="module")
def server(folder, tts, tmp_path_factory):
    """A library of two voices and no default voice."""
    db = tmp_path_factory.mktemp("voices") / "voices.db"
    settings = ServerSettings(model=str(folder), device="cpu", port=free_port(), voices_db=str(db))
    with live_server(settings, tts) as url:
        add_voice(url, "bob")
        add_voice(url, "carol")
        yield url, db


def test_the_list_is_openai_s():
    assert len(OPENAI_VOICES) == 13 and {"alloy", "ash", "marin", "cedar"} <= set(OPENAI_VOICES)


def test_an_openai_voice_with_nothing_to_resolve_to_says_how_to_choose(server):
    response = speak(server[0], "alloy")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == "voice" and error["code"] == "voice_not_found"
    assert "'alloy'" in error["message"] and "--default-voice" in error["message"]
    assert "luxtts voice alias alloy NAME" in error["message"]
    assert str(server[1]) not in error["message"]  # where the library lives is not the client's business


def test_an_alias_set_over_http_resolves_and_is_listed(server):
    url = server[0]
    carol = speak(url, "carol")
    response = httpx.put(url + "/v1/audio/voice_aliases/alloy", json={"voice": "carol"})
    assert response.status_code == 200, response.text
    assert response.json()["voice_name"] == "carol" and response.json()["object"] == "audio.voice_alias"
    try:
        assert speak(url, "alloy").content == carol.content
        listed = {v["name"]: v["aliases"] for v in httpx.get(url + "/v1/audio/voices").json()["data"]}
        assert listed == {"bob": [], "carol": ["alloy"]}
        aliases = httpx.get(url + "/v1/audio/voice_aliases").json()["data"]
        assert [(a["alias"], a["voice_name"]) for a in aliases] == [("alloy", "carol")]
        assert speak(url, "ash").status_code == 400  # another of OpenAI's names still has nothing to go to
    finally:
        deleted = httpx.delete(url + "/v1/audio/voice_aliases/alloy")
    assert deleted.status_code == 200 and deleted.json()["deleted"] is True
    assert speak(url, "alloy").status_code == 400


@pytest.mark.parametrize("path,body,status,code", [
    ("alloy", {"voice": "nobody"}, 400, "voice_not_found"),
    ("alloy", {}, 400, "missing_required_parameter"),
    ("alloy", {"voice": 5}, 400, "missing_required_parameter"),
    ("bob", {"voice": "carol"}, 409, "alias_is_a_voice"),
    ("has space", {"voice": "carol"}, 400, "invalid_value"),
    (".hidden", {"voice": "carol"}, 400, "invalid_value"),
])
def test_bad_alias_requests_are_4xx(server, path, body, status, code):
    response = httpx.put(server[0] + f"/v1/audio/voice_aliases/{path}", json=body)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


def test_removing_an_unknown_alias_is_404(server):
    response = httpx.delete(server[0] + "/v1/audio/voice_aliases/shimmer")
    assert response.status_code == 404 and response.json()["error"]["code"] == "alias_not_found"


def test_an_alias_body_that_is_not_json_is_400(server):
    response = httpx.put(server[0] + "/v1/audio/voice_aliases/alloy", content=b"{nope")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_json"


def test_a_name_neither_in_the_library_nor_openai_s_is_not_found(server):
    response = speak(server[0], "zelda")
    assert response.status_code == 400 and response.json()["error"]["code"] == "voice_not_found"


def with_default(folder, tts, db, name: str):
    """Another server on the same library, with --default-voice NAME."""
    settings = ServerSettings(model=str(folder), device="cpu", port=free_port(), voices_db=str(db), default_voice=name)
    return live_server(settings, tts)


def test_the_default_voice_answers_openai_s_names_and_library_names_win(folder, tts, server):
    with with_default(folder, tts, server[1], "carol") as url:
        carol = speak(url, "carol")
        assert carol.status_code == 200
        for name in ("alloy", "ash", "Nova"):
            response = speak(url, name)
            assert response.status_code == 200, response.text
            assert response.content == carol.content
        # a library voice named like OpenAI's is that voice, not the default (another transcript: another prompt)
        add_voice(url, "echo", "A different transcript makes a different prompt.")
        echo = speak(url, "echo")
        assert echo.status_code == 200 and echo.content != carol.content


def test_a_default_voice_missing_from_the_library_says_so(folder, tts, server):
    with with_default(folder, tts, server[1], "dora") as url:
        response = speak(url, "alloy")
    assert response.status_code == 400
    assert "default voice 'dora'" in response.json()["error"]["message"]


def test_a_library_with_one_voice_makes_it_the_default(folder, tts, tmp_path):
    settings = ServerSettings(model=str(folder), device="cpu", port=free_port(), voices_db=str(tmp_path / "v.db"))
    with live_server(settings, tts) as url:
        assert speak(url, "alloy").status_code == 400  # empty library
        add_voice(url, "solo")
        solo, alloy = speak(url, "solo"), speak(url, "alloy")
        assert solo.status_code == alloy.status_code == 200 and solo.content == alloy.content
