"""The wire format of /v1/audio/speech: JSON body -> a checked :class:`SpeechRequest`.

Checked here, field by field, so that each mistake comes back as a 400 naming the field and what is accepted.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass
from typing import Any, Mapping, Optional

from ..options import MAX_SEED
from .errors import bad_request, too_long
from .inline import InlineVoice

FORMATS = ("mp3", "opus", "aac", "flac", "wav", "pcm")
STREAM_FORMATS = ("audio", "sse")
SAMPLE_RATES = (24000, 48000)
DEFAULT_SAMPLE_RATE = 24000  # what OpenAI's clients assume for pcm
SPEED_RANGE = (0.25, 4.0)
MAX_STEPS = 64
MAX_GUIDANCE = 20.0
MAX_T_SHIFT = 10.0
MAX_INSTRUCTIONS = 4096
MAX_TRANSCRIPT = 20_000  # as a voice upload's
MAX_JSON_DEPTH = 16

# null has a meaning only here: seed null is a fresh random seed, as when it is left out
NULLABLE = ("seed",)
FIELDS = ("model", "input", "voice", "response_format", "speed", "instructions", "stream_format",
           "seed", "num_steps", "guidance_scale", "t_shift", "sample_rate", "stream")


@dataclass(frozen=True)
class SpeechRequest:
    model: str
    input: str
    voice: "str | InlineVoice"  # a library voice's name or id, or a recording sent with the request
    response_format: str = "mp3"
    speed: float = 1.0
    stream_format: str = "audio"
    seed: Optional[int] = None
    num_steps: Optional[int] = None
    guidance_scale: Optional[float] = None
    t_shift: Optional[float] = None
    sample_rate: int = DEFAULT_SAMPLE_RATE
    # True: the client reads the body as it comes (a wav then has open-ended sizes); None: not said
    stream: Optional[bool] = None


def parse_json(raw: bytes) -> Any:
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise bad_request(f"the request body is not valid JSON: {e}", None, "invalid_json") from None
    except RecursionError:
        body = None
    if body is None or _depth(body) > MAX_JSON_DEPTH:
        if body is None and raw.strip() == b"null":
            return None
        raise bad_request(f"the request body nests deeper than {MAX_JSON_DEPTH} levels", None, "invalid_json")
    return body


def _depth(value: Any) -> int:
    """How deeply containers nest in a parsed JSON value (iteratively: no recursion limit to hit)."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth)
            if depth > MAX_JSON_DEPTH:
                return depth
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return deepest


def parse_speech(body: Any, default_model: str, max_chars: int) -> SpeechRequest:
    if not isinstance(body, Mapping):
        raise bad_request(f"the request body must be a JSON object, got {type(body).__name__}", None, "invalid_json")
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise bad_request(f"unrecognized request argument(s) {unknown}; accepted: {list(FIELDS)}", unknown[0],
                          "unknown_parameter")
    nulls = [name for name in FIELDS if name in body and body[name] is None and name not in NULLABLE]
    if nulls:
        raise bad_request(f"'{nulls[0]}' is null; leave a field out to get its default (only "
                          f"{', '.join(NULLABLE)} may be null)", nulls[0], "invalid_type")
    text = _text(body, max_chars)
    model = body.get("model", default_model)
    if not isinstance(model, str) or not model.strip():
        raise bad_request(f"'model' must be a non-empty string, got {model!r}", "model")
    _instructions(body.get("instructions"))
    return SpeechRequest(
        model=model,
        input=text,
        voice=_voice(body.get("voice")),
        response_format=_choice(body, "response_format", FORMATS, "mp3"),
        speed=_number(body, "speed", 1.0, SPEED_RANGE[0], SPEED_RANGE[1]),
        stream_format=_choice(body, "stream_format", STREAM_FORMATS, "audio"),
        seed=_integer(body, "seed", 0, MAX_SEED),
        num_steps=_integer(body, "num_steps", 1, MAX_STEPS),
        guidance_scale=_number(body, "guidance_scale", None, 0.0, MAX_GUIDANCE),
        t_shift=_number(body, "t_shift", None, 0.0, MAX_T_SHIFT, open_low=True),
        sample_rate=_sample_rate(body.get("sample_rate")),
        stream=_flag(body, "stream"),
    )


def _text(body: Mapping, max_chars: int) -> str:
    if "input" not in body:
        raise bad_request("'input' is required: the text to speak", "input", "missing_required_parameter")
    text = body["input"]
    if not isinstance(text, str):
        raise bad_request(f"'input' must be a string, got {type(text).__name__}", "input", "invalid_type")
    if not text.strip():
        raise bad_request("'input' is empty or only whitespace; give at least one word to speak", "input")
    if len(text) > max_chars:
        raise bad_request(f"'input' is {len(text)} characters long; the most accepted is {max_chars}", "input",
                          "string_above_max_length")
    return text


def _voice(value: Any) -> "str | InlineVoice":
    if isinstance(value, Mapping) and set(value) == {"id"}:
        value = value["id"]
    elif isinstance(value, Mapping) and "audio" in value:
        return _inline_voice(value)
    elif isinstance(value, InlineVoice):  # the multipart form's voice file
        return value
    if value is None:
        raise bad_request("'voice' is required: a voice name or id from /v1/audio/voices", "voice",
                          "missing_required_parameter")
    if not isinstance(value, str) or not value.strip():
        raise bad_request(f"'voice' must be a voice name or id (a string, or {{\"id\": ...}}), got {value!r:.80}",
                          "voice", "invalid_type")
    return value


def _inline_voice(value: Mapping) -> InlineVoice:
    """``{"audio": <base64, or a data: URL>, "transcript": ...}``: a recording for this request only."""
    extra = sorted(set(value) - {"audio", "transcript"})
    if extra:
        raise bad_request(f"'voice' as a recording takes 'audio' and 'transcript', not {extra}", f"voice.{extra[0]}",
                          "unknown_parameter")
    audio = value["audio"]
    if not isinstance(audio, str):
        raise bad_request(f"'voice.audio' must be a base64 string, got {type(audio).__name__}", "voice.audio",
                          "invalid_type")
    if audio.startswith("data:") and "," in audio:  # a data: URL, as a browser's FileReader makes
        audio = audio.split(",", 1)[1]
    try:
        raw = base64.b64decode("".join(audio.split()), validate=True)
    except (binascii.Error, ValueError):
        raise bad_request("'voice.audio' is not valid base64", "voice.audio", "invalid_base64") from None
    if not raw:
        raise bad_request("'voice.audio' is empty", "voice.audio", "empty_audio")
    return InlineVoice(raw, check_transcript(value.get("transcript"), "voice.transcript"))


def check_transcript(value: Any, param: str) -> Optional[str]:
    """An inline voice's transcript: None (transcribe it), else the words of the recording."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise bad_request(f"'{param}' must be a string, got {type(value).__name__}", param, "invalid_type")
    if len(value) > MAX_TRANSCRIPT:
        raise too_long(param, len(value), MAX_TRANSCRIPT)
    if not value.strip():
        raise bad_request(f"'{param}' is only whitespace; give the words of the recording or leave it out", param)
    return value


_FORM_INTEGERS = ("seed", "num_steps", "sample_rate")
_FORM_NUMBERS = ("speed", "guidance_scale", "t_shift")


def typed_form(fields: Mapping[str, Any]) -> dict:
    """A multipart speech request's text fields -> the values its JSON form would have (numbers, true/false);
    parse_speech then checks them as it checks JSON."""
    body = dict(fields)
    for name in _FORM_INTEGERS + _FORM_NUMBERS:
        if isinstance(body.get(name), str):
            body[name] = _form_number(name, body[name], int if name in _FORM_INTEGERS else float)
    if isinstance(body.get("stream"), str):
        flag = body["stream"].strip().lower()
        if flag not in ("true", "false"):
            raise bad_request(f"'stream' must be true or false, got {flag[:20]!r}", "stream", "invalid_type")
        body["stream"] = flag == "true"
    return body


def _form_number(name: str, text: str, kind: type):
    try:
        return kind(text.strip())
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise bad_request(f"'{name}' must be {what}, got {text[:40]!r}", name, "invalid_type") from None


def _instructions(value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        raise bad_request(f"'instructions' must be a string, got {type(value).__name__}", "instructions", "invalid_type")
    if len(value) > MAX_INSTRUCTIONS:
        raise bad_request(f"'instructions' is longer than {MAX_INSTRUCTIONS} characters", "instructions",
                          "string_above_max_length")


def _flag(body: Mapping, name: str) -> Optional[bool]:
    value = body.get(name)
    if value is None or isinstance(value, bool):
        return value
    raise bad_request(f"'{name}' must be true or false, got {value!r:.80}", name, "invalid_type")


def _choice(body: Mapping, name: str, accepted: tuple, default: str) -> str:
    value = body.get(name)
    if value is None:
        return default
    if value not in accepted:
        raise bad_request(f"'{name}' must be one of {list(accepted)}, got {value!r:.80}", name)
    return value


def _number(body: Mapping, name: str, default: Optional[float], low: float, high: float,
            open_low: bool = False) -> Optional[float]:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise bad_request(f"'{name}' must be a number, got {type(value).__name__}", name, "invalid_type")
    ok = math.isfinite(value) and (value > low if open_low else value >= low) and value <= high
    if not ok:
        bound = f"({low:g}, {high:g}]" if open_low else f"[{low:g}, {high:g}]"
        raise bad_request(f"'{name}' must be in {bound}, got {value!r}", name)
    return float(value)


def _integer(body: Mapping, name: str, low: int, high: int) -> Optional[int]:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad_request(f"'{name}' must be an integer, got {type(value).__name__}", name, "invalid_type")
    if not low <= value <= high:
        raise bad_request(f"'{name}' must be an integer from {low} to {high}, got {value!r}", name)
    return value


def _sample_rate(value: Any) -> int:
    if value is None:
        return DEFAULT_SAMPLE_RATE
    if isinstance(value, bool) or value not in SAMPLE_RATES:
        raise bad_request(f"'sample_rate' must be one of {list(SAMPLE_RATES)}, got {value!r:.80}", "sample_rate")
    return int(value)
