"""A voice sent with the speech request (``"voice": {"audio": <base64>, "transcript": ...}``): used for that request
only, never stored, encoded once per clip; the same limits and errors as a voice upload."""

import base64

import httpx
import numpy as np
import pytest
from golden_model import pipeline_cases, prompt_wav
from server_live import free_port, live_server, voice_form

from luxtts.server.settings import ServerSettings

TRANSCRIPT = pipeline_cases()[0]["prompt_text"]
TEXT = "Hello there, my friend."
WAV = prompt_wav().read_bytes()  # 4 s at 16 kHz, 128 kB


@pytest.fixture(scope="module")
def server(folder, tts, tmp_path_factory):
    db = tmp_path_factory.mktemp("voices") / "voices.db"
    settings = ServerSettings(model=str(folder), device="cpu", port=free_port(), voices_db=str(db),
                              max_upload_bytes=200_000, max_upload_seconds=10)
    with live_server(settings, tts) as url:
        response = httpx.post(url + "/v1/audio/voices", timeout=120, **voice_form("arctic", TRANSCRIPT))
        assert response.status_code == 200
        yield url


@pytest.fixture
def encodes(tts, monkeypatch):
    """Counts the server's prompt encodings (the model is shared with the in-process server)."""
    calls = []
    real = tts.encode_prompt

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(tts, "encode_prompt", counting)
    return calls


def speak(url, voice, **extra) -> httpx.Response:
    return httpx.post(url + "/v1/audio/speech", timeout=120, json={"model": "tts-1", "voice": voice, "input": TEXT,
                                                                   "response_format": "pcm", "seed": 9, **extra})


def inline(audio: bytes = WAV, transcript=TRANSCRIPT) -> dict:
    voice = {"audio": base64.b64encode(audio).decode("ascii")}
    if transcript is not None:
        voice["transcript"] = transcript
    return voice


def voice_count(url) -> int:
    return len(httpx.get(url + "/v1/audio/voices").json()["data"])


def test_an_inline_voice_speaks_as_the_same_recording_in_the_library_and_is_not_stored(server, encodes):
    before = voice_count(server)
    library = speak(server, "arctic")
    first = speak(server, inline())
    assert first.status_code == 200, first.text
    np.testing.assert_array_equal(np.frombuffer(first.content, "<i2"), np.frombuffer(library.content, "<i2"))
    again = speak(server, inline())
    assert again.content == first.content
    assert len(encodes) == 1  # the second request found the clip's prompt in the cache
    assert voice_count(server) == before


def test_another_transcript_is_another_prompt(server, encodes):
    a = speak(server, inline(transcript="One transcript."))
    b = speak(server, inline(transcript="Another transcript."))
    assert a.status_code == b.status_code == 200 and a.content != b.content
    assert len(encodes) == 2


def test_a_data_url_is_accepted(server):
    voice = inline()
    voice["audio"] = "data:audio/wav;base64," + voice["audio"]
    assert speak(server, voice).status_code == 200


BAD = {
    "not base64": ({"audio": "@@not base64@@", "transcript": "x"}, 400, "invalid_base64", "voice.audio"),
    "audio not a string": ({"audio": 5}, 400, "invalid_type", "voice.audio"),
    "empty audio": ({"audio": ""}, 400, "empty_audio", "voice.audio"),
    "unknown key": ({"audio": "AAAA", "name": "x"}, 400, "unknown_parameter", "voice.name"),
    "transcript not a string": ({"audio": "AAAA", "transcript": 3}, 400, "invalid_type", "voice.transcript"),
    "blank transcript": ({"audio": "AAAA", "transcript": "  "}, 400, "invalid_value", "voice.transcript"),
    "not audio": (inline(b"this is not audio at all" * 10), 400, "invalid_audio", "voice.audio"),
    "over the upload size": (inline(WAV + b"\0" * 100_000), 413, "file_too_large", "voice.audio"),
}


@pytest.mark.parametrize("voice,status,code,param", list(BAD.values()), ids=list(BAD))
def test_a_bad_inline_voice_is_a_4xx_naming_it(server, voice, status, code, param):
    response = speak(server, voice)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert (error["code"], error["param"]) == (code, param)


def test_an_inline_recording_over_the_upload_seconds_is_413(server):
    import io

    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.zeros(16000 * 12, dtype=np.float32) + 0.1, 16000, format="WAV", subtype="PCM_U8")
    response = speak(server, inline(buf.getvalue()))
    assert response.status_code == 413 and response.json()["error"]["code"] == "audio_too_long"


def speak_form(url, files, **fields) -> httpx.Response:
    """Always multipart (as a client sending a recording does), text fields as parts without a filename."""
    data = {"model": "tts-1", "input": TEXT, "response_format": "pcm", "seed": "9", **fields}
    parts = [(name, (None, value)) for name, value in data.items() if value is not None]
    parts += list((files or {}).items())
    return httpx.post(url + "/v1/audio/speech", timeout=120, files=parts)


def test_the_multipart_form_speaks_as_the_json_inline_voice(server, encodes):
    before = voice_count(server)
    as_json = speak(server, inline())
    form = speak_form(server, {"voice": ("me.wav", WAV, "audio/wav")}, transcript=TRANSCRIPT, speed="1.0",
                      stream="false")
    assert form.status_code == 200, form.text
    assert form.content == as_json.content
    assert len(encodes) <= 1  # one clip, one encoding (none if an earlier test left it in the cache)
    assert voice_count(server) == before
    named = speak_form(server, None, voice="arctic")  # a library voice named in a form field
    assert named.status_code == 200 and named.content == as_json.content


FORM_BAD = {
    "no voice": ({}, {}, 400, "missing_required_parameter", "voice"),
    "a transcript without a file": ({}, {"voice": "arctic", "transcript": "x"}, 400, "unknown_parameter",
                                    "transcript"),
    "an unknown field": ({"voice": ("a.wav", WAV, "audio/wav")}, {"colour": "red"}, 400, "unknown_parameter",
                         "colour"),
    "a file in a text field": ({"voice": ("a.wav", WAV, "audio/wav"), "input": ("t.txt", b"hi", "text/plain")},
                               {}, 400, "invalid_type", "input"),
    "speed not a number": ({"voice": ("a.wav", WAV, "audio/wav")}, {"speed": "fast"}, 400, "invalid_type", "speed"),
    "speed nan": ({"voice": ("a.wav", WAV, "audio/wav")}, {"speed": "nan"}, 400, "invalid_value", "speed"),
    "seed not an integer": ({"voice": ("a.wav", WAV, "audio/wav")}, {"seed": "1.5"}, 400, "invalid_type", "seed"),
    "stream not a flag": ({"voice": ("a.wav", WAV, "audio/wav")}, {"stream": "maybe"}, 400, "invalid_type",
                          "stream"),
    "not audio": ({"voice": ("a.wav", b"not audio" * 50, "audio/wav")}, {}, 400, "invalid_audio", "voice"),
    "an empty file": ({"voice": ("a.wav", b"", "audio/wav")}, {}, 400, "empty_audio", "voice"),
    "blank transcript": ({"voice": ("a.wav", WAV, "audio/wav")}, {"transcript": "   "}, 400, "invalid_value",
                         "transcript"),
    "over the upload size": ({"voice": ("a.wav", WAV + b"\0" * 100_000, "audio/wav")}, {}, 413, "file_too_large",
                             "voice"),
}


@pytest.mark.parametrize("files,fields,status,code,param", list(FORM_BAD.values()), ids=list(FORM_BAD))
def test_a_bad_form_is_a_4xx_naming_the_field(server, files, fields, status, code, param):
    response = speak_form(server, files, **fields)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert (error["code"], error["param"]) == (code, param), error
