"""The API as OpenAPI 3.1 (``GET /openapi.json``): request and response models of every route.

The routes parse their bodies by hand (protocol.py, voices.py) so that each mistake gets its own message; the
models here describe the same wire format for clients, generators and fuzzers. tests/test_server_openapi.py
checks the server's answers against this schema, so the two cannot drift apart silently.
"""

from __future__ import annotations

from typing import Annotated, Dict, List, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from ..options import MAX_SEED
from .protocol import (FORMATS, MAX_GUIDANCE, MAX_INSTRUCTIONS, MAX_STEPS, MAX_T_SHIFT, MAX_TRANSCRIPT, SAMPLE_RATES,
                       SPEED_RANGE, STREAM_FORMATS)
from .settings import ServerSettings

AUDIO_TYPES = ("audio/mpeg", "audio/opus", "audio/aac", "audio/flac", "audio/wav", "audio/pcm")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: Optional[str]
    code: Optional[str]


class Error(BaseModel):
    """OpenAI's error shape, on every 4xx and 5xx."""
    error: ErrorDetail


def _models_default():
    return None


# what the routes call blank (only whitespace) is refused; the schema says "at least one non-space character"
Words = Annotated[str, StringConstraints(min_length=1, pattern=r"\S")]


class VoiceId(_Strict):
    id: Words


class InlineVoice(_Strict):
    """A recording sent with the request, encoded for it alone and never stored."""
    audio: str = Field(min_length=1, json_schema_extra={"contentEncoding": "base64"},
                       description="the recording (wav, mp3, flac, ogg, webm or m4a) in base64, or a data: URL; "
                                   "the limits of a voice upload apply")
    transcript: Words = Field(None, max_length=MAX_TRANSCRIPT,
                              description="its words (else it is transcribed, if it can be)")


class SpeechBody(_Strict):
    """POST /v1/audio/speech (OpenAI's fields, then luxtts's own: seed .. sample_rate)."""
    input: Words = Field(max_length=ServerSettings.max_input_chars, description="the text to speak (the default limit)")
    voice: Union[Words, VoiceId, InlineVoice] = Field(
        description="a voice name, id or alias from /v1/audio/voices, one of OpenAI's voice names (see "
                    "/v1/audio/voice_aliases), or a recording for this request only")
    model: Words = Field("luxtts", description="any model name: one model is served")
    response_format: Literal[FORMATS] = "mp3"  # type: ignore[valid-type]
    speed: float = Field(1.0, ge=SPEED_RANGE[0], le=SPEED_RANGE[1])
    instructions: str = Field("", max_length=MAX_INSTRUCTIONS, description="accepted and ignored")
    stream_format: Literal[STREAM_FORMATS] = "audio"  # type: ignore[valid-type]
    seed: Optional[int] = Field(None, ge=0, le=MAX_SEED, description="null or absent: a random seed")
    # absent: the model's own defaults (they differ between the distilled and the base model)
    num_steps: int = Field(default_factory=_models_default, ge=1, le=MAX_STEPS)
    guidance_scale: float = Field(default_factory=_models_default, ge=0.0, le=MAX_GUIDANCE)
    t_shift: float = Field(default_factory=_models_default, gt=0.0, le=MAX_T_SHIFT)
    sample_rate: Literal[SAMPLE_RATES] = 24000  # type: ignore[valid-type]
    stream: bool = Field(default_factory=_models_default,
                         description="true: the client reads the audio as it comes (a wav then carries open-ended "
                                     "sizes); absent: as the openai SDK's streaming response says, else false")


class SpeechForm(SpeechBody):
    """POST /v1/audio/speech as multipart/form-data: the same fields, the voice a recording for this request."""
    voice: bytes = Field(json_schema_extra={"format": "binary"},
                         description="a recording (wav, mp3, flac, ogg, webm or m4a), encoded for this request alone "
                                     "and never stored; the limits of a voice upload apply")
    transcript: Words = Field(None, max_length=MAX_TRANSCRIPT,
                              description="its words (else it is transcribed, if it can be)")


class VoiceUpload(_Strict):
    """POST /v1/audio/voices, as multipart/form-data."""
    name: str = Field(min_length=1, max_length=64)
    audio_sample: bytes = Field(json_schema_extra={"format": "binary"},
                                description="wav, mp3, flac, ogg, webm or m4a; at most --max-upload-mb and "
                                            "--max-upload-seconds")
    transcript: str = Field("", description="the words of the recording (else it is transcribed, if it can be)")
    consent: str = Field("", description="a consent id from POST /v1/audio/voice_consents")


class ConsentUpload(_Strict):
    """POST /v1/audio/voice_consents, as multipart/form-data."""
    language: str = Field(min_length=1, max_length=35, description="BCP 47, e.g. en-US")
    recording: bytes = Field(json_schema_extra={"format": "binary"})
    name: str = Field("", max_length=256)


class Voice(BaseModel):
    object: Literal["audio.voice"]
    id: str
    name: str
    type: Literal["audio_sample"]
    created_at: int
    aliases: List[str] = Field(default_factory=list, description="in GET /v1/audio/voices: its other names")


class VoiceList(BaseModel):
    object: Literal["list"]
    data: List[Voice]


class VoiceDeleted(BaseModel):
    id: str
    object: Literal["audio.voice.deleted"]
    deleted: bool


class AliasBody(_Strict):
    """PUT /v1/audio/voice_aliases/{alias}."""
    voice: Words = Field(description="the name or id of the library voice the alias names")


class Alias(BaseModel):
    object: Literal["audio.voice_alias"]
    alias: str
    voice_id: str
    voice_name: str
    created_at: int


class AliasList(BaseModel):
    object: Literal["list"]
    data: List[Alias]


class AliasDeleted(BaseModel):
    object: Literal["audio.voice_alias.deleted"]
    alias: str
    deleted: bool


class Consent(BaseModel):
    object: Literal["audio.voice_consent"]
    id: str
    name: str
    language: str
    created_at: int


class ModelCard(BaseModel):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str


class ModelList(BaseModel):
    object: Literal["list"]
    data: List[ModelCard]


class Health(BaseModel):
    status: str


class Ready(BaseModel):
    status: str
    model: Optional[str] = None


def errors(*statuses: int) -> Dict[int, dict]:
    """``responses=`` entries for these error statuses (all in OpenAI's error shape)."""
    what = {400: "a field is wrong (the error names it)", 401: "no or a wrong API key", 404: "not found",
            409: "the name is taken", 413: "the body or upload is too large or too long",
            429: "busy: retry after Retry-After seconds", 503: "the model is loading or the server is stopping"}
    return {s: {"model": Error, "description": what[s]} for s in statuses}


# statuses any /v1 route may answer before it runs: a missing key, a body too large, the server shutting down
COMMON = (401,)


def json_body(model) -> dict:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": _ref(model)}}}}


UPLOAD_TYPES = "audio/wav, audio/mpeg, audio/flac, audio/ogg, audio/webm, audio/mp4"


def json_or_form_body(json_model, form_model, audio_field: str) -> dict:
    body = json_body(json_model)
    body["requestBody"]["content"].update(form_body(form_model, audio_field)["requestBody"]["content"])
    return body


def form_body(model, audio_field: str) -> dict:
    form = {"schema": _ref(model), "encoding": {audio_field: {"contentType": UPLOAD_TYPES}}}
    return {"requestBody": {"required": True, "content": {"multipart/form-data": form}}}


def audio_answer() -> dict:
    content = {t: {"schema": {"type": "string", "format": "binary"}} for t in AUDIO_TYPES}
    content["text/event-stream"] = {"schema": {"type": "string"}}
    return {200: {"description": "the audio, streamed as it is made (text/event-stream with stream_format sse)",
                  "content": content}}


def _ref(model) -> dict:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


REQUEST_MODELS = (SpeechBody, SpeechForm, VoiceUpload, ConsentUpload, AliasBody)


def openapi(app) -> dict:
    """The app's schema: FastAPI's, plus the request models that the routes parse themselves."""
    if app.openapi_schema:
        return app.openapi_schema
    from fastapi.openapi.utils import get_openapi

    schema = get_openapi(title="luxtts", version=_version(), routes=app.routes,
                         description="OpenAI-compatible speech, a voice library and its consents.")
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in REQUEST_MODELS:
        body = model.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(body.pop("$defs", {}))
        components[model.__name__] = body
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            responses = operation.get("responses", {})
            responses.pop("422", None)  # FastAPI's own; these routes answer 400
            content = responses.get("200", {}).get("content", {})
            if len(content) > 1 and content.get("application/json") == {"schema": {}}:
                del content["application/json"]  # FastAPI's placeholder beside the real types
    _link(schema, "/v1/audio/voices", "post", {
        "GetVoice": ("/v1/audio/voices/{voice_id}", "get", {"voice_id": "$response.body#/id"}),
        "DeleteVoice": ("/v1/audio/voices/{voice_id}", "delete", {"voice_id": "$response.body#/id"}),
    })
    _link(schema, "/v1/audio/voice_consents", "post", {
        "GetConsent": ("/v1/audio/voice_consents/{consent_id}", "get", {"consent_id": "$response.body#/id"}),
    })
    _link(schema, "/v1/audio/voice_aliases/{alias}", "put", {
        "DeleteAlias": ("/v1/audio/voice_aliases/{alias}", "delete", {"alias": "$response.body#/alias"}),
    })
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    app.openapi_schema = schema
    return schema


def _link(schema: dict, path: str, method: str, links: dict) -> None:
    """OpenAPI links from an operation's 200 to the operations that take the id it returns."""
    paths = schema["paths"]
    answer = paths[path][method]["responses"]["200"]
    answer["links"] = {name: {"operationId": paths[target][verb]["operationId"], "parameters": params}
                       for name, (target, verb, params) in links.items()}


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("luxtts")
    except Exception:  # noqa: BLE001 - a source checkout that was never installed
        return "0"
