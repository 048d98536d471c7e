"""The speech server as a Ray Serve application: the same FastAPI app (``create_app``) in every replica.

Each replica loads the model in its constructor, so Serve routes nothing to it before the model is ready,
then builds ``create_app(settings, tts)`` as its ingress: one copy of the API, its own scheduler (per-chunk
round-robin across the replica's requests) and the shared voice store. Serve adds what one process cannot
do: replicas on several machines and GPUs, routing, autoscaling on ongoing requests, and replacing a replica
whose health check fails.

    luxtts serve --ray --replicas 2                       # laptop: a local Ray instance
    serve deploy luxtts/server/ray_serve.yaml             # an existing cluster: builder ``build_app``

Only ``luxtts serve --ray`` and ``serve deploy`` import this module (and Ray).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

from ray import serve

from ..errors import InvalidOptionError, LuxTTSError
from .settings import ServerSettings

logger = logging.getLogger("luxtts.server")

DEPLOYMENT_NAME = "LuxTTS"
APP_NAME = "luxtts"
REPLICA_HEADER = "x-luxtts-replica"


@dataclass(frozen=True)
class RayOptions:
    """How many replicas and what each one holds.

    replicas: a fixed count (ignored when ``autoscale`` is set). autoscale: (min, max) replicas, scaled so that
    each replica has about ``target_ongoing_requests`` requests in progress. gpus_per_replica: a fraction of
    a GPU (0.25: four replicas share one card) or whole GPUs. cpus_per_replica: CPUs Ray reserves, and the
    replica's torch threads unless the settings name them.
    """

    replicas: int = 1
    autoscale: Optional[Tuple[int, int]] = None
    gpus_per_replica: float = 0.0
    cpus_per_replica: float = 1.0
    target_ongoing_requests: float = 4.0
    health_check_period_s: float = 5.0
    health_check_timeout_s: float = 30.0
    graceful_shutdown_timeout_s: float = 60.0

    def __post_init__(self) -> None:
        if isinstance(self.replicas, bool) or not isinstance(self.replicas, int) or self.replicas < 1:
            raise InvalidOptionError(f"replicas must be a positive integer, got {self.replicas!r}")
        if self.autoscale is not None:
            lo, hi = self.autoscale
            if not (isinstance(lo, int) and isinstance(hi, int) and 0 <= lo <= hi and hi >= 1):
                raise InvalidOptionError(f"autoscale must be MIN:MAX with 0 <= MIN <= MAX and MAX >= 1, "
                                         f"got {lo}:{hi}")
            object.__setattr__(self, "autoscale", (lo, hi))
        if not (isinstance(self.gpus_per_replica, (int, float)) and self.gpus_per_replica >= 0):
            raise InvalidOptionError(f"gpus_per_replica must be >= 0 (a fraction such as 0.25 shares a GPU), "
                                     f"got {self.gpus_per_replica!r}")
        if self.gpus_per_replica > 1 and self.gpus_per_replica != int(self.gpus_per_replica):
            raise InvalidOptionError(f"gpus_per_replica above 1 must be a whole number, got {self.gpus_per_replica}")
        for name in ("cpus_per_replica", "target_ongoing_requests", "health_check_period_s",
                     "health_check_timeout_s", "graceful_shutdown_timeout_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise InvalidOptionError(f"{name} must be > 0, got {value!r}")

    @property
    def max_replicas(self) -> int:
        return self.autoscale[1] if self.autoscale else self.replicas


def parse_autoscale(text: str) -> Tuple[int, int]:
    """``"1:4"`` -> (1, 4)."""
    lo, sep, hi = str(text).partition(":")
    try:
        if not sep:
            raise ValueError
        return int(lo), int(hi)
    except ValueError:
        raise InvalidOptionError(f"autoscale must be MIN:MAX replicas such as 1:4, got {text!r}") from None


class _ReplicaHeader:
    """Names the replica in every response, so that clients (and tests) can see where a request ran."""

    def __init__(self, app, replica: str) -> None:
        self.app = app
        self.header = (REPLICA_HEADER.encode(), replica.encode())

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_named(message):
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + [self.header]
            await send(message)

        await self.app(scope, receive, send_named)


@serve.ingress()
class LuxTTSDeployment:
    """One replica: a loaded model and ``create_app`` around it."""

    def __init__(self, settings: Dict[str, Any]) -> None:
        from ..pipeline import LuxTTS

        self._settings = ServerSettings(**settings)
        context = serve.get_replica_context()
        # host:pid/replica id: enough to find the process, and short enough for a header
        self.replica = f"{socket.gethostname()}:{os.getpid()}/{context.replica_id.unique_id}"
        s = self._settings
        try:
            self._tts = LuxTTS.from_pretrained(s.model, device=s.device, dtype=s.dtype, threads=s.threads,
                                               quantize=s.quantize)
        except Exception as exc:
            # Serve shows this message as the deployment's status; a replica without a model must not start
            raise RuntimeError(f"luxtts replica could not load model {s.model!r}: "
                               f"{type(exc).__name__}: {exc}") from None
        self._state = None
        logger.info("replica %s ready: %s", self.replica, self._tts.variant)

    def __serve_build_asgi_app__(self):
        from .app import create_app

        app = create_app(self._settings, self._tts)
        self._state = app.state.luxtts
        app.add_middleware(_ReplicaHeader, replica=self.replica)
        return app

    def check_health(self) -> None:
        """Serve calls this every ``health_check_period_s``; raising marks the replica unhealthy, and Serve
        stops routing to it and starts a replacement."""
        problem = self.health_problem()
        if problem:
            raise RuntimeError(f"luxtts replica {self.replica} unhealthy: {problem}")

    def health_problem(self) -> Optional[str]:
        state = self._state
        if state is None:
            return "the app was not built"
        if state.tts is None:
            return "no model loaded"
        if state.store is None:
            return "the voice store is closed"
        scheduler = state.scheduler
        # the scheduler's one worker thread runs every request's chunks: without it requests would wait forever
        if scheduler is None or not scheduler.alive:
            return "the scheduler's worker thread has stopped"
        return None


def check_store_for_cluster(settings: ServerSettings, options: RayOptions, nodes: int) -> None:
    """Refuse a SQLite voice library that replicas on several machines would each open as a separate file.

    Replicas on one machine share one SQLite file safely (WAL, one transaction per change); on several
    machines each would see its own file, so a voice made through one replica would be missing on another.
    """
    from ..voices import store_kind

    if nodes > 1 and options.max_replicas > 1 and store_kind(settings.voices_db) == "sqlite":
        raise LuxTTSError(
            f"the voice library is SQLite ({settings.voices_db or 'the default file'}) but this Ray cluster has "
            f"{nodes} nodes and up to {options.max_replicas} replicas: replicas on different machines would not "
            "share voices. Use --voices-db postgresql://user@host/db (every node must reach it), or --replicas 1")
    if nodes > 1 and store_kind(settings.voices_db) == "sqlite":
        logger.warning("voice library is SQLite on a %d-node cluster: a replacement replica may start on another "
                       "machine, with another file; PostgreSQL keeps voices wherever replicas run", nodes)


def alive_nodes() -> int:
    import ray

    return sum(1 for node in ray.nodes() if node.get("Alive"))


def application(settings: ServerSettings, options: RayOptions):
    """The bound Serve application (``serve.run`` it, or return it from a builder)."""
    check_store_for_cluster(settings, options, alive_nodes())
    settings = _absolute_paths(settings)
    if settings.threads is None:
        # one replica's torch threads = the CPUs Ray reserved for it, not every core of a shared machine
        settings = dataclasses.replace(settings, threads=max(1, int(options.cpus_per_replica)))
    kwargs: Dict[str, Any] = dict(
        name=DEPLOYMENT_NAME,
        ray_actor_options={"num_cpus": options.cpus_per_replica, "num_gpus": options.gpus_per_replica},
        # the replica's own queue bound: Serve holds further requests (or sends them to another replica)
        # instead of the replica answering 429
        max_ongoing_requests=settings.max_queue,
        health_check_period_s=options.health_check_period_s,
        health_check_timeout_s=options.health_check_timeout_s,
        graceful_shutdown_timeout_s=options.graceful_shutdown_timeout_s,
        # a model that cannot load fails the same way every time: fail the deployment soon, with its message
        max_constructor_retry_count=3,
    )
    if options.autoscale:
        lo, hi = options.autoscale
        kwargs["autoscaling_config"] = {"min_replicas": lo, "initial_replicas": max(lo, 1), "max_replicas": hi,
                                        "target_ongoing_requests": options.target_ongoing_requests}
    else:
        kwargs["num_replicas"] = options.replicas
    return serve.deployment(LuxTTSDeployment).options(**kwargs).bind(_settings_dict(settings))


def _absolute_paths(settings: ServerSettings) -> ServerSettings:
    """Replicas need not run in this process's folder: a relative model folder or SQLite file is made absolute
    here, where it was meant."""
    from ..voices.backends import parse_url

    changes: Dict[str, Any] = {}
    if os.path.exists(settings.model):
        changes["model"] = os.path.abspath(settings.model)
    if settings.voices_db:
        kind, where = parse_url(settings.voices_db)
        if kind == "sqlite":
            changes["voices_db"] = where
    return dataclasses.replace(settings, **changes) if changes else settings


def _settings_dict(settings: ServerSettings) -> Dict[str, Any]:
    data = dataclasses.asdict(settings)
    data["cors_origins"] = list(data["cors_origins"])
    return data


def deployment_problem(app_name: str = APP_NAME) -> str:
    """Why Serve could not deploy ``app_name``: the replica's own error (e.g. the model that did not load),
    which ``serve.run``'s exception does not carry."""
    status = serve.status().applications.get(app_name)
    if status is None:
        return "the application is not deployed"
    messages = [d.message for d in status.deployments.values() if d.message] or [status.message]
    return "; ".join(m.strip() for m in messages if m) or str(status.status)


_RAY_KEYS = {f.name for f in dataclasses.fields(RayOptions)}
_SETTINGS_KEYS = {f.name for f in dataclasses.fields(ServerSettings)} - {"host", "port"}


def build_app(args: Dict[str, Any]):
    """Application builder for ``serve run`` / ``serve deploy`` (import path ``luxtts.server.ray_app:build_app``).

    ``args`` (the config file's ``args``): any ServerSettings field (model, device, dtype, quantize, threads,
    voices_db, max_queue, api_key, require_consent, ...) and any RayOptions field (replicas, autoscale as
    "MIN:MAX", gpus_per_replica, cpus_per_replica, target_ongoing_requests, health_check_*). Host and port
    are Serve's ``http_options``.
    """
    args = dict(args or {})
    unknown = sorted(set(args) - _RAY_KEYS - _SETTINGS_KEYS)
    if unknown:
        raise InvalidOptionError(f"unknown luxtts args {unknown}; accepted: {sorted(_RAY_KEYS | _SETTINGS_KEYS)}")
    ray_args = {k: v for k, v in args.items() if k in _RAY_KEYS}
    if isinstance(ray_args.get("autoscale"), str):
        ray_args["autoscale"] = parse_autoscale(ray_args["autoscale"])
    elif ray_args.get("autoscale") is not None:
        ray_args["autoscale"] = tuple(ray_args["autoscale"])
    settings_args = {k: v for k, v in args.items() if k in _SETTINGS_KEYS}
    if "cors_origins" in settings_args:
        settings_args["cors_origins"] = tuple(settings_args["cors_origins"])
    return application(ServerSettings(**settings_args), RayOptions(**ray_args))
