"""The voice library over HTTP: /v1/audio/voices and /v1/audio/voice_consents, on the shared voice store."""


import re

from .. import errors as lux
from .errors import APIError, bad_request, from_luxtts
from .forms import file_field, text_field, uploaded_form
from .uploads import encode_recording, readable_recording

MAX_NAME = 64
_BAD_NAME = re.compile(r"[\x00-\x1f\x7f/\\]")


def add_routes(app, state) -> None:
    from fastapi import Request

    from . import schema as api
    from starlette.concurrency import run_in_threadpool

    async def upload(values, field: str):
        raw, filename = await file_field(values, field)
        source = await run_in_threadpool(readable_recording, raw, field, state.settings)
        return raw, filename, source

    upload_errors = api.errors(*api.COMMON, 400, 413, 429, 503)

    @app.post("/v1/audio/voices", openapi_extra=api.form_body(api.VoiceUpload, "audio_sample"),
              responses={200: {"model": api.Voice}, **upload_errors, **api.errors(409)})
    async def create_voice(request: Request):
        tts = state.require_model()
        async with uploaded_form(state, request) as values:
            return await _create_voice(tts, values)

    async def _create_voice(tts, values):
        name = _check_name(text_field(values, "name", required=True, limit=100_000))
        transcript = text_field(values, "transcript")
        if transcript is not None and not transcript.strip():
            raise bad_request("'transcript' is only whitespace; give the words of the recording or leave it out",
                              "transcript")
        consent = text_field(values, "consent", limit=200)
        if state.settings.require_consent and consent is None:
            raise bad_request("this server requires consent: create one with POST /v1/audio/voice_consents and "
                              "send its id as 'consent'", "consent", "consent_required")
        if consent is not None:
            try:
                await run_in_threadpool(state.store.get_consent, consent)
            except (lux.ConsentNotFoundError, lux.InvalidOptionError):
                raise _no_consent(consent, "consent") from None
        raw, filename, source = await upload(values, "audio_sample")
        prompt = await state.on_voice_thread(lambda: encode_recording(tts, source, transcript, "audio_sample"))
        try:
            record = await run_in_threadpool(
                lambda: state.store.create(name, prompt, audio=raw, audio_filename=filename,
                                           transcript=prompt.transcript or "", consent_id=consent))
        except lux.VoiceExistsError:
            raise APIError(409, f"a voice named {name!r} already exists; delete it first or choose another name",
                           param="name", code="voice_exists") from None
        except lux.ConsentNotFoundError:
            raise _no_consent(consent, "consent") from None
        except lux.InvalidOptionError as exc:
            raise bad_request(f"'name': {exc}", "name") from None
        return voice_json(record)

    @app.get("/v1/audio/voices", responses={200: {"model": api.VoiceList}, **api.errors(*api.COMMON)})
    async def list_voices():
        records, aliases = await run_in_threadpool(lambda: (state.store.list(), state.store.aliases()))
        named = {}
        for alias in aliases:
            named.setdefault(alias.voice_id, []).append(alias.alias)
        return {"object": "list", "data": [{**voice_json(r), "aliases": named.get(r.id, [])} for r in records]}

    @app.get("/v1/audio/voices/{voice_id}", responses={200: {"model": api.Voice}, **api.errors(*api.COMMON, 404)})
    async def get_voice(voice_id: str):
        return voice_json(await run_in_threadpool(_lookup, state.store, state.store.get, voice_id))

    @app.delete("/v1/audio/voices/{voice_id}",
                responses={200: {"model": api.VoiceDeleted}, **api.errors(*api.COMMON, 404)})
    async def delete_voice(voice_id: str):
        record = await run_in_threadpool(_lookup, state.store, state.store.delete, voice_id)
        return {"id": record.id, "object": "audio.voice.deleted", "deleted": True}

    @app.post("/v1/audio/voice_consents", openapi_extra=api.form_body(api.ConsentUpload, "recording"),
              responses={200: {"model": api.Consent}, **upload_errors})
    async def create_consent(request: Request):
        async with uploaded_form(state, request) as values:
            return await _create_consent(values)

    async def _create_consent(values):
        language = text_field(values, "language", required=True, limit=35)
        name = text_field(values, "name", limit=256)
        raw, filename, source = await upload(values, "recording")
        try:
            from ..audio import load_audio, validate_prompt

            await state.on_voice_thread(lambda: validate_prompt(load_audio(source, 16000)))
        except lux.LuxTTSError as exc:
            raise from_luxtts(exc, "recording") from None
        try:
            record = await run_in_threadpool(state.store.create_consent, raw, filename, language, name)
        except lux.InvalidOptionError as exc:
            raise bad_request(str(exc), "language") from None
        return consent_json(record)

    @app.get("/v1/audio/voice_consents/{consent_id}",
             responses={200: {"model": api.Consent}, **api.errors(*api.COMMON, 404)})
    async def get_consent(consent_id: str):
        try:
            record = await run_in_threadpool(state.store.get_consent, consent_id)
        except (lux.ConsentNotFoundError, lux.InvalidOptionError):
            raise _no_consent(consent_id, "consent_id") from None
        return consent_json(record)


def _lookup(store, fn, key: str):
    try:
        return fn(key)
    except (lux.VoiceNotFoundError, lux.InvalidOptionError):
        raise voice_not_found(store, key, "voice_id", 404) from None


def voice_not_found(store, key: str, param: str, status: int) -> APIError:
    """The error for an unknown voice. The store's own message names where the library lives and lists its
    voices: a client gets what it sent and, at most, the one closest name."""
    import difflib

    message = f"'{param}': there is no voice named or with id {key[:80]!r}"
    try:
        close = difflib.get_close_matches(key, store.names(), n=1, cutoff=0.6)
    except lux.LuxTTSError:
        close = []
    if close:
        message += f"; did you mean {close[0]!r}?"
    return APIError(status, message + "; GET /v1/audio/voices lists the voices", param=param,
                    code="voice_not_found")


def _no_consent(consent_id, param: str) -> APIError:
    shown = consent_id[:80] if isinstance(consent_id, str) else "?"
    status = 404 if param == "consent_id" else 400
    return APIError(status, f"'{param}': there is no voice consent with id {shown!r}; create one with POST "
                            "/v1/audio/voice_consents", param=param, code="consent_not_found")


def _check_name(name: str) -> str:
    """A voice name is a label in the database, never a path; still, refuse what could be mistaken for one."""
    if len(name) > MAX_NAME:
        raise bad_request(f"'name' is {len(name)} characters; the most accepted is {MAX_NAME}", "name",
                          "string_above_max_length")
    if not name.strip() or name != name.strip():
        raise bad_request("'name' must not be blank or start/end with whitespace", "name")
    if _BAD_NAME.search(name) or name.startswith(".") or ".." in name:
        raise bad_request(f"'name' {name[:80]!r} has a character that is not allowed (no '/', '\\', '..', leading "
                          "'.' or control characters such as NUL)", "name")
    return name


def voice_json(record) -> dict:
    return {"object": "audio.voice", "id": record.id, "name": record.name, "type": "audio_sample",
            "created_at": int(record.created_at)}


def consent_json(record) -> dict:
    return {"object": "audio.voice_consent", "id": record.id, "name": record.name or "",
            "language": record.language, "created_at": int(record.created_at)}
