"""The ASGI app: ``create_app(settings, tts=None)`` -> FastAPI. Routes live in speech.py and voices.py."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import secrets

from .errors import APIError
from .settings import ServerSettings
from .state import ServerState

logger = logging.getLogger("luxtts.server")


def create_app(settings: ServerSettings, tts=None):
    """The server's app. ``tts``: an already loaded LuxTTS; None loads ``settings.model`` in the background
    after start-up (requests get 503 until it is ready). Everything the app owns (model, store, scheduler,
    metrics) is ``app.state.luxtts`` (a ServerState), created here and started by the app's lifespan."""
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, Response
    from starlette.exceptions import HTTPException

    state = ServerState(settings, tts)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        await asyncio.to_thread(state.start)
        loading = asyncio.create_task(state.on_model_thread(state.load_model))
        try:
            yield
        finally:
            state.draining = True
            await loading
            await asyncio.to_thread(state.stop)

    from . import schema as api

    # no docs page: FastAPI's loads its scripts from a CDN; /openapi.json is what tools read
    app = FastAPI(title="luxtts", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url="/openapi.json")
    app.openapi = lambda: api.openapi(app)
    app.state.luxtts = state

    @app.exception_handler(APIError)
    async def api_error(request: Request, exc: APIError):
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        headers = dict(getattr(exc, "headers", None) or {})
        message = str(exc.detail)
        if exc.status_code == 405:
            # starlette answers with the methods of the first route whose path matched; a path can have several
            allowed = allowed_methods(app, request.scope)
            headers["Allow"] = ", ".join(allowed)
            message = f"{request.method[:16]} is not allowed on {request.url.path[:200]}; allowed: {', '.join(allowed)}"
        err = APIError(exc.status_code, message, code={404: "not_found", 405: "method_not_allowed"}.get(
            exc.status_code))
        return JSONResponse(err.body(), status_code=err.status, headers=headers or None)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        param = ".".join(str(p) for p in first.get("loc", ())[1:]) or None
        err = APIError(400, f"{param}: {first.get('msg', 'invalid request')}", param=param, code="invalid_value")
        return JSONResponse(err.body(), status_code=400)

    @app.get("/health", responses={200: {"model": api.Health}})
    async def health():
        return {"status": "ok"}

    @app.get("/ready", responses={200: {"model": api.Ready}, 503: {"model": api.Ready, "description": "not ready"}})
    async def ready():
        if state.ready:
            return {"status": "ready", "model": settings.model_name}
        why = "draining" if state.draining else ("failed: " + state.load_failure if state.load_error else "loading")
        return JSONResponse({"status": why}, status_code=503)

    @app.get("/metrics", response_class=Response, responses={200: {
        "description": "Prometheus metrics", "content": {"text/plain": {"schema": {"type": "string"}}}}})
    async def metrics():
        from prometheus_client import CONTENT_TYPE_LATEST

        return Response(state.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/models", responses={200: {"model": api.ModelList}, **api.errors(*api.COMMON)})
    async def models():
        return {"object": "list", "data": [_model_card(state)]}

    @app.get("/v1/models/{model_id}", responses={200: {"model": api.ModelCard}, **api.errors(*api.COMMON, 404)})
    async def model(model_id: str):
        if model_id != settings.model_name:
            raise APIError(404, f"model {model_id[:80]!r} is not served here; GET /v1/models lists what is",
                           param="model", code="model_not_found")
        return _model_card(state)

    from . import aliases, speech, voices

    speech.add_routes(app, state)
    voices.add_routes(app, state)
    aliases.add_routes(app, state)
    try:
        from .page import mount_page
    except ImportError:
        mount_page = None
    if mount_page is not None:
        mount_page(app)
    app.add_middleware(_Guard, state=state)
    if settings.cors_origins:
        from starlette.middleware.cors import CORSMiddleware

        # outside the guard: a browser's preflight carries no Authorization header
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=["*"],
                           allow_headers=["*"], expose_headers=["x-request-id", "retry-after"])
    return app


def allowed_methods(app, scope) -> list:
    """Every method some route accepts on this request's path, for a 405's Allow header."""
    from starlette.routing import Match

    methods = set()
    for route in app.router.routes:
        route_methods = getattr(route, "methods", None)
        if route_methods and route.matches(scope)[0] is not Match.NONE:
            methods |= set(route_methods)
    if "GET" in methods:
        methods.add("HEAD")  # answered as a GET without its body (_Guard)
    return sorted(methods)


def _model_card(state: ServerState) -> dict:
    return {"id": state.settings.model_name, "object": "model", "created": 0, "owned_by": "luxtts"}


def _route_label(path: str) -> str:
    if path.startswith("/v1/audio/voices/"):
        return "/v1/audio/voices/{id}"
    if path.startswith("/v1/audio/voice_consents/"):
        return "/v1/audio/voice_consents/{id}"
    if path.startswith("/v1/audio/voice_aliases/"):
        return "/v1/audio/voice_aliases/{alias}"
    if path.startswith("/v1/models/"):
        return "/v1/models/{id}"
    if path in _KNOWN:
        return path
    return "other"


_KNOWN = {"/", "/health", "/ready", "/metrics", "/v1/models", "/v1/audio/speech", "/v1/audio/voices",
          "/v1/audio/voice_consents", "/v1/audio/voice_aliases"}


class _Guard:
    """Outermost ASGI layer: request ids, the API key on /v1, and request counts by status.

    A plain ASGI middleware (not BaseHTTPMiddleware) so that streamed bodies and disconnects pass through.
    """

    def __init__(self, app, state: ServerState) -> None:
        self.app = app
        self.luxtts = state
        self._key = state.settings.api_key.encode() if state.settings.api_key else None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        rid = "req_" + secrets.token_hex(8)
        scope["luxtts.request_id"] = rid
        status = {"code": 500, "started": False}

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                status["started"] = True
                message["headers"] = list(message.get("headers", [])) + [(b"x-request-id", rid.encode())]
            await send(message)

        try:
            if self._key is not None and scope["path"].startswith("/v1/") and not self._authorized(scope):
                await _send_error(send_with_id, APIError(
                    401, "missing or wrong API key: send 'Authorization: Bearer <key>'", code="invalid_api_key",
                    headers={"WWW-Authenticate": "Bearer"}))
                return
            if scope["method"] == "HEAD":
                # HEAD is GET without the body: uvicorn drops the body, going by its own copy of the scope
                scope = dict(scope, method="GET")
            await self.app(scope, receive, send_with_id)
        except Exception as exc:  # noqa: BLE001 - the last line of defence: one log line, a 500 with no details
            logger.error("request %s failed: %s", rid, type(exc).__name__)
            logger.debug("request %s traceback", rid, exc_info=exc)
            if status["started"]:
                return  # headers are out: uvicorn closes the unfinished response, which tells the client
            await _send_error(send_with_id, APIError(500, f"internal error (request {rid})", code="internal_error"))
        finally:
            self.luxtts.metrics.requests.labels(_route_label(scope["path"]), str(status["code"])).inc()

    def _authorized(self, scope) -> bool:
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                scheme, _, token = value.partition(b" ")
                return scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), self._key)
        return False


async def _send_error(send, err: APIError) -> None:
    import json

    body = json.dumps(err.body()).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in err.headers.items()]
    await send({"type": "http.response.start", "status": err.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
