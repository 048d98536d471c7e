"""``luxtts serve --ray``: the server as a Ray Serve application. Light at import (argparse only)."""

from __future__ import annotations

import argparse


def configure(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("Ray Serve (luxtts[ray]): several replicas behind one endpoint")
    g.add_argument("--ray", action="store_true",
                   help="serve through Ray Serve: replicas, autoscaling, replacement of failed replicas")
    size = g.add_mutually_exclusive_group()
    size.add_argument("--replicas", type=int, default=None, metavar="N", help="fixed number of replicas (default 1)")
    size.add_argument("--autoscale", default=None, metavar="MIN:MAX",
                      help="scale between MIN and MAX replicas on ongoing requests per replica")
    g.add_argument("--target-ongoing-requests", type=float, default=4.0, metavar="N",
                   help="with --autoscale: requests in progress per replica that autoscaling aims at (default 4)")
    g.add_argument("--gpus-per-replica", type=float, default=0.0, metavar="F",
                   help="GPUs per replica; a fraction shares a card (0.25: four replicas per GPU; default 0)")
    g.add_argument("--cpus-per-replica", type=float, default=1.0, metavar="F",
                   help="CPUs Ray reserves per replica, also its torch threads unless --threads (default 1)")
    g.add_argument("--address", default=None, metavar="ADDR",
                   help="an existing Ray cluster (ray://head:10001 or auto); default: $RAY_ADDRESS, else start one "
                        "on this machine")
    g.add_argument("--request-timeout", type=float, default=300.0, metavar="S",
                   help="end-to-end limit for one HTTP request at Serve's proxy, in seconds (default 300)")


def check(args: argparse.Namespace) -> None:
    """Ray options without --ray are a mistake worth saying, not ignoring."""
    from ..errors import InvalidOptionError

    if not args.ray:
        given = [flag for flag, value in (("--replicas", args.replicas), ("--autoscale", args.autoscale),
                                          ("--address", args.address)) if value is not None]
        if args.gpus_per_replica:
            given.append("--gpus-per-replica")
        if given:
            raise InvalidOptionError(f"{', '.join(given)} need --ray")


def run(args: argparse.Namespace, settings) -> int:
    import logging
    import signal
    import threading

    from ..errors import LuxTTSError

    try:
        import ray
        from ray import serve

        from .ray_app import APP_NAME, RayOptions, application, deployment_problem, parse_autoscale
    except ImportError as exc:
        raise LuxTTSError(f"luxtts serve --ray needs the ray extra: pip install 'luxtts[ray]' ({exc})") from None

    log = logging.getLogger("luxtts.server")
    options = RayOptions(replicas=args.replicas or 1,
                         autoscale=parse_autoscale(args.autoscale) if args.autoscale else None,
                         gpus_per_replica=args.gpus_per_replica, cpus_per_replica=args.cpus_per_replica,
                         target_ongoing_requests=args.target_ongoing_requests,
                         graceful_shutdown_timeout_s=args.drain_seconds)
    if args.request_timeout <= 0:
        from ..errors import InvalidOptionError

        raise InvalidOptionError(f"--request-timeout must be > 0, got {args.request_timeout}")
    if settings.voices_db is None or not settings.voices_db.startswith("postgres"):
        from ..voices import open_store

        open_store(settings.voices_db).close()  # a wrong --voices-db fails here, with its own message
    import os

    # our own local instance is shut down with us; on a cluster we only remove our application
    local = not (args.address or os.environ.get("RAY_ADDRESS"))
    ray.init(address=args.address, logging_level=logging.WARNING)
    # from here a Ctrl-C or SIGTERM (also one during start-up) stops the application in order
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        serve.start(http_options={"host": settings.host, "port": settings.port,
                                  "request_timeout_s": args.request_timeout})
        app = application(settings, options)  # refuses SQLite on a multi-node cluster
        size = f"{options.autoscale[0]}-{options.autoscale[1]} replicas (autoscaled)" if options.autoscale \
            else f"{options.replicas} replica(s)"
        log.info("starting %s of %s on Ray Serve (%g GPU, %g CPU each)", size, settings.model,
                 options.gpus_per_replica, options.cpus_per_replica)
        try:
            serve.run(app, name=APP_NAME, route_prefix="/", blocking=False)
        except RuntimeError:
            problem = deployment_problem(APP_NAME)
            serve.delete(APP_NAME)
            raise LuxTTSError(f"Ray Serve could not start luxtts: {problem}") from None
        host = f"[{settings.host}]" if ":" in settings.host else settings.host
        log.info("serving %s on http://%s:%d through Ray Serve (API key %s); Ctrl-C stops", settings.model, host,
                 settings.port, "required" if settings.api_key else "off")
        stop.wait()
        log.info("stopping: replicas finish their requests (up to %g s)", options.graceful_shutdown_timeout_s)
        serve.delete(APP_NAME)
        if local:
            serve.shutdown()
    finally:
        ray.shutdown()
    log.info("stopped")
    return 0
