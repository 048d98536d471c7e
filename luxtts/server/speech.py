"""POST /v1/audio/speech: check the request, admit it to the scheduler, stream the encoded audio back."""


import asyncio
import base64
import json
import logging
import secrets

from ..errors import InvalidOptionError, LuxTTSError, VoiceNotFoundError
from .body import read_body
from .codecs import CONTENT_TYPES, make_encoder
from .errors import APIError, from_luxtts
from .protocol import SpeechRequest, parse_json, parse_speech
from .scheduler import Done, Job, QueueFull
from .voices import voice_not_found

logger = logging.getLogger("luxtts.server")
MAX_JSON_BYTES = 1024 * 1024


def add_routes(app, state) -> None:
    from fastapi import Request
    from fastapi.responses import StreamingResponse
    from starlette.concurrency import run_in_threadpool

    from . import schema as api

    @app.post("/v1/audio/speech", openapi_extra=api.json_body(api.SpeechBody),
              responses={**api.audio_answer(), **api.errors(*api.COMMON, 400, 413, 429, 503)})
    async def speech(request: Request):
        s = state.settings
        req = parse_speech(parse_json(await read_body(request, MAX_JSON_BYTES, "request body")), s.model_name,
                           s.max_input_chars)
        tts = state.require_model()
        try:
            prompt = await run_in_threadpool(state.store.load_prompt, req.voice)
        except (VoiceNotFoundError, InvalidOptionError):
            raise voice_not_found(state.store, req.voice, "voice", 400) from None
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
        body = _sse(req, job, first, infos, rid) if req.stream_format == "sse" else _audio(req, job, first, rid)
        media = "text/event-stream" if req.stream_format == "sse" else CONTENT_TYPES[req.response_format]
        return StreamingResponse(_watched(body, job, request.receive), media_type=media,
                                 headers={"Cache-Control": "no-store"})


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


async def _audio(req: SpeechRequest, job: Job, first, rid: str):
    encoder = make_encoder(req.response_format, req.sample_rate)
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
