"""Voice aliases over HTTP: another name for a library voice, typically one of OpenAI's built-in voice names, so
that a client's default ("alloy", livekit's "ash") speaks in a voice of the library. The same aliases as
``luxtts voice alias``: one store.

``GET /v1/audio/voice_aliases``, ``PUT /v1/audio/voice_aliases/{alias}`` with ``{"voice": name or id}``,
``DELETE /v1/audio/voice_aliases/{alias}``.
"""

# no ``from __future__ import annotations``: FastAPI reads the route functions' annotations (Request) at runtime
from .. import errors as lux
from .body import read_body
from .errors import APIError, bad_request
from .protocol import parse_json

MAX_BODY = 4096


def add_routes(app, state) -> None:
    from fastapi import Request
    from starlette.concurrency import run_in_threadpool

    from . import schema as api

    @app.get("/v1/audio/voice_aliases", responses={200: {"model": api.AliasList}, **api.errors(*api.COMMON)})
    async def list_aliases():
        records = await run_in_threadpool(state.store.aliases)
        return {"object": "list", "data": [alias_json(r) for r in records]}

    @app.put("/v1/audio/voice_aliases/{alias}", openapi_extra=api.json_body(api.AliasBody),
             responses={200: {"model": api.Alias}, **api.errors(*api.COMMON, 400, 409, 413)})
    async def set_alias(alias: str, request: Request):
        body = parse_json(await read_body(request, MAX_BODY, "request body"))
        voice = body.get("voice") if isinstance(body, dict) else None
        if not isinstance(voice, str) or not voice:
            raise bad_request("send {\"voice\": <a library voice's name or id>}", "voice",
                              "missing_required_parameter")
        try:
            record = await run_in_threadpool(state.store.set_alias, alias, voice)
        except lux.VoiceExistsError:
            raise APIError(409, f"'alias': {alias[:80]!r} is a library voice's name, which means that voice "
                                "already", param="alias", code="alias_is_a_voice") from None
        except lux.VoiceNotFoundError:
            raise bad_request(f"'voice': there is no voice named or with id {voice[:80]!r}; GET /v1/audio/voices "
                              "lists the voices", "voice", "voice_not_found") from None
        except lux.InvalidOptionError as exc:
            raise bad_request(f"'alias': {exc}", "alias") from None
        return alias_json(record)

    @app.delete("/v1/audio/voice_aliases/{alias}",
                responses={200: {"model": api.AliasDeleted}, **api.errors(*api.COMMON, 404)})
    async def remove_alias(alias: str):
        try:
            record = await run_in_threadpool(state.store.remove_alias, alias)
        except (lux.VoiceNotFoundError, lux.InvalidOptionError):
            raise APIError(404, f"'alias': there is no alias {alias[:80]!r}; GET /v1/audio/voice_aliases lists "
                                "them", param="alias", code="alias_not_found") from None
        return {"object": "audio.voice_alias.deleted", "alias": record.alias, "deleted": True}


def alias_json(record) -> dict:
    return {"object": "audio.voice_alias", "alias": record.alias, "voice_id": record.voice_id,
            "voice_name": record.voice_name, "created_at": int(record.created_at)}
