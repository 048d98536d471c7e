"""POST /v1/audio/speech: check the request, admit it to the scheduler, stream the encoded audio back."""


import asyncio
import base64
import contextlib
import json
import logging
import secrets

from ..errors import InvalidOptionError, LuxTTSError, VoiceNotChosenError, VoiceNotFoundError
from .body import read_body, upload_slot
from .codecs import CONTENT_TYPES, make_encoder, sent_whole
from .errors import APIError, bad_request, from_luxtts
from .forms import file_field, is_form, text_field, uploaded_form
from .inline import InlineVoice, PromptCache
from .protocol import FIELDS, SpeechRequest, check_transcript, parse_json, parse_speech, typed_form
from .scheduler import Done, Job, QueueFull
from .uploads import encode_recording, readable_recording
from .voice_names import load_voice
from .voices import voice_not_found

logger = logging.getLogger("luxtts.server")
MAX_JSON_BYTES = 1024 * 1024


# a multipart speech request: the JSON fields, and the voice's transcript beside its file
FORM_FIELDS = FIELDS + ("transcript",)


def json_limit(settings) -> int:
    """The largest speech request body: 1 MiB, plus room for an inline voice's upload in base64."""
    return MAX_JSON_BYTES + (settings.max_upload_bytes * 4 + 2) // 3


def add_routes(app, state) -> None:
    from fastapi import Request
    from fastapi.responses import Response, StreamingResponse

    inline_prompts = PromptCache()

    async def voice_prompt(req: SpeechRequest, tts):
        if isinstance(req.voice, InlineVoice):
            def encode(voice: InlineVoice):
                source = readable_recording(voice.audio, voice.audio_field, state.settings)
                return encode_recording(tts, source, voice.transcript, voice.audio_field, voice.transcript_field)

            return await state.on_voice_thread(lambda: inline_prompts.get_or_encode(req.voice, encode))
        try:
            return await state.on_voice_thread(lambda: load_voice(state.store, req.voice, state.settings.default_voice))
        except VoiceNotChosenError as exc:
            raise APIError(400, f"'voice': {exc}", param="voice", code="voice_not_found") from None
        except (VoiceNotFoundError, InvalidOptionError):
            raise voice_not_found(state.store, req.voice, "voice", 400) from None

    from . import schema as api

    @app.post("/v1/audio/speech", openapi_extra=api.json_or_form_body(api.SpeechBody, api.SpeechForm, "voice"),
              responses={**api.audio_answer(), **api.errors(*api.COMMON, 400, 413, 429, 503)})
    async def speech(request: Request):
        s = state.settings

        async def prepared(body):
            req = parse_speech(body, s.model_name, s.max_input_chars)
            tts = state.require_model()
            return req, tts, await voice_prompt(req, tts)

        if is_form(request):  # the fields as a form, the voice a recording file: an upload, with its limits
            async with uploaded_form(state, request, max_fields=len(FORM_FIELDS) + 2) as values:
                req, tts, prompt = await prepared(typed_form(await _form_fields(values)))
        else:
            async with _upload_slot_if_large(request, state):
                req, tts, prompt = await prepared(parse_json(await read_body(request, json_limit(s), "request body")))
        rid = request.scope.get("luxtts.request_id", "req_" + secrets.token_hex(8))
        infos = []

        # The scheduler runs one chunk of this request per turn, also on a GPU: its own chunks batched together
        # would delay its first audio to the end of the batch and hold the other requests up for as long. What a
        # GPU call batches instead is the next chunk of several requests (Scheduler, under --batch-frames).
        def factory():
            return tts.plan(req.input, prompt, num_steps=req.num_steps, guidance_scale=req.guidance_scale,
                            t_shift=req.t_shift, speed=req.speed, seed=req.seed, sample_rate=req.sample_rate,
                            chunk_tokens=s.chunk_tokens, chunk_policy=s.chunk_policy, chunk_infos=infos)

        job = Job(rid, factory, req.sample_rate, asyncio.get_running_loop())
        try:
            state.scheduler.submit(job)
        except QueueFull as full:
            state.metrics.rejected.inc()
            raise APIError(429, f"the server is busy ({state.scheduler.max_queue} requests in progress); retry "
                                f"after {full.retry_after} s", code="queue_full",
                           headers={"Retry-After": str(full.retry_after)}) from None
        try:
            first = await job.queue.get()
        except BaseException:
            job.cancel()
            raise
        if isinstance(first, Exception):
            raise _as_api_error(first, rid)
        headers = {"Cache-Control": "no-store"}
        if req.stream_format == "sse":
            return StreamingResponse(_watched(_sse(req, job, first, infos, rid), job, request.receive),
                                     media_type="text/event-stream", headers=headers)
        streamed = client_streams(req, request.headers)
        body = _audio(req, job, first, rid, streamed)
        media = CONTENT_TYPES[req.response_format]
        if sent_whole(req.response_format, streamed):
            return Response(await _whole(body, job, request.receive), media_type=media, headers=headers)
        return StreamingResponse(_watched(body, job, request.receive), media_type=media, headers=headers)


async def _form_fields(values) -> dict:
    """A multipart speech request -> its fields as parse_speech takes them; a ``voice`` file (with the optional
    ``transcript``) becomes an inline voice, a ``voice`` text field names a library voice."""
    unknown = sorted(set(values.keys()) - set(FORM_FIELDS))
    if unknown:
        raise bad_request(f"unrecognized form field(s) {unknown}; accepted: {list(FORM_FIELDS)}", unknown[0],
                          "unknown_parameter")
    body = {}
    for name in FIELDS:
        if name != "voice" and name in values:
            value = text_field(values, name, limit=1_000_000)  # the JSON limits are checked by parse_speech
            if value is not None:
                body[name] = value
    transcript = check_transcript(text_field(values, "transcript"), "transcript")
    voice = values.get("voice")
    if voice is None or isinstance(voice, str):
        if transcript is not None:
            raise bad_request("'transcript' goes with a 'voice' file (a recording); a library voice has its own",
                              "transcript", "unknown_parameter")
        if voice:
            body["voice"] = voice
    else:
        audio, _ = await file_field(values, "voice")
        body["voice"] = InlineVoice(audio, transcript, audio_field="voice", transcript_field="transcript")
    return body


def client_streams(req: SpeechRequest, headers) -> bool:
    """Whether the client reads the audio as it comes: ``"stream": true`` in the request, or (when the request
    does not say) the header the openai SDK's ``with_streaming_response`` sends. A plain ``create()``, curl or
    a browser's fetch wants the whole file: a wav then gets its true sizes."""
    if req.stream is not None:
        return req.stream
    return headers.get("x-stainless-raw-response", "").lower() == "stream"


async def _whole(body, job: Job, receive) -> bytes:
    """All of ``body``; a client that disconnects meanwhile cancels the job (and gets nothing)."""

    async def join() -> bytes:
        return b"".join([data async for data in body])

    async def disconnected() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    collect, watch = asyncio.create_task(join()), asyncio.create_task(disconnected())
    try:
        await asyncio.wait({collect, watch}, return_when=asyncio.FIRST_COMPLETED)
        if collect.done():
            return collect.result()
        job.cancel()  # the scheduler drops it and sends nothing more: stop waiting for its pieces
        collect.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await collect
        return b""
    finally:
        watch.cancel()
        await body.aclose()


@contextlib.asynccontextmanager
async def _upload_slot_if_large(request, state):
    """A speech body past 1 MiB carries an inline voice: it holds an upload slot (--max-uploads) while it is
    read and encoded, as an upload does, so that parallel inline voices cannot hold unbounded memory."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) <= MAX_JSON_BYTES:
        yield
        return
    async with upload_slot(request, state.uploads, json_limit(state.settings)):
        yield


def _as_api_error(exc: Exception, rid: str) -> APIError:
    if isinstance(exc, LuxTTSError):
        return from_luxtts(exc, "input")
    logger.error("request %s: generation failed: %s", rid, type(exc).__name__, exc_info=exc)
    return APIError(500, f"generation failed (request {rid})", code="internal_error")


async def _items(job: Job, first, rid: str):
    """The job's pieces (np.ndarray), ending with its Done; a failure after the first piece ends the stream."""
    item = first
    while True:
        if isinstance(item, Exception):
            logger.error("request %s failed mid-stream: %s", rid, type(item).__name__)
            raise RuntimeError(f"request {rid}: generation failed mid-stream")
        yield item
        if isinstance(item, Done):
            return
        item = await job.queue.get()


async def _audio(req: SpeechRequest, job: Job, first, rid: str, streamed: bool = True):
    encoder = make_encoder(req.response_format, req.sample_rate, streamed)
    try:
        async for item in _items(job, first, rid):
            data = encoder.finish() if isinstance(item, Done) else encoder.push(item)
            if data:
                yield data
    finally:
        close = getattr(encoder, "close", None)
        if close is not None:
            close()


async def _sse(req: SpeechRequest, job: Job, first, infos, rid: str):
    """OpenAI's speech events: ``speech.audio.delta`` (base64 of the encoded audio), then ``speech.audio.done``."""
    encoder = make_encoder(req.response_format, req.sample_rate)

    def event(payload: dict) -> bytes:
        return f"data: {json.dumps(payload)}\n\n".encode()

    try:
        async for item in _items(job, first, rid):
            data = encoder.finish() if isinstance(item, Done) else encoder.push(item)
            if data:
                yield event({"type": "speech.audio.delta", "audio": base64.b64encode(data).decode("ascii")})
            if isinstance(item, Done):
                text_tokens = sum(i.tokens for i in infos)
                frames = sum(i.frames for i in infos)
                yield event({"type": "speech.audio.done", "usage": {
                    "input_tokens": text_tokens, "output_tokens": frames, "total_tokens": text_tokens + frames}})
    finally:
        close = getattr(encoder, "close", None)
        if close is not None:
            close()


async def _watched(body, job: Job, receive):
    """Pass ``body`` through; a client disconnect (seen at once, not at the next write) cancels the job."""

    async def watch():
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                job.cancel()
                return

    watcher = asyncio.create_task(watch())
    try:
        async for data in body:
            yield data
    finally:
        watcher.cancel()
        if not job.finished:
            job.cancel()
        await body.aclose()
