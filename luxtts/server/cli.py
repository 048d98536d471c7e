"""``luxtts serve``: the OpenAI-compatible speech server. Light at import (argparse only)."""

from __future__ import annotations

import argparse

HELP = "serve speech over HTTP (OpenAI's /v1/audio/speech, a voice library, a web page); needs luxtts[server]"


def configure(p: argparse.ArgumentParser) -> None:
    from .settings import API_KEY_ENV, DEFAULT_PORT, ServerSettings

    p.add_argument("--model", default=None, help="model folder or Hugging Face repo id (default: $LUXTTS_MODEL "
                                                 "or YatharthS/LuxTTS)")
    p.add_argument("--device", default="auto", help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:N or mps")
    p.add_argument("--dtype", default=None, help="float32 (default), float16 or bfloat16")
    p.add_argument("--quantize", choices=["int8"], default=None, help="int8 linear layers (CPU, float32)")
    p.add_argument("--threads", type=int, default=None, help="intra-op threads (default: available cores)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    p.add_argument("--voices-db", default=None, metavar="URL",
                   help="voice library: a SQLite file or sqlite:///path, or postgresql://user@host/db "
                        "(default: $LUXTTS_VOICES_DB, else voices.db in the luxtts data dir)")
    p.add_argument("--max-queue", type=int, default=16,
                   help="speech requests admitted at once (running or waiting); more get 429 (default 16)")
    p.add_argument("--default-voice", default=None, metavar="NAME",
                   help="the library voice for requests naming one of OpenAI's voices (alloy, ash, ...) that the "
                        "library does not hold (default: the library's only voice, if it holds exactly one)")
    p.add_argument("--api-key", default=None,
                   help=f"require 'Authorization: Bearer KEY' on /v1 (default: ${API_KEY_ENV} if set). Prefer the "
                        "environment variable: a command line is visible to other users")
    p.add_argument("--require-consent", action="store_true",
                   help="new voices need a consent id from POST /v1/audio/voice_consents")
    p.add_argument("--max-upload-mb", type=float, default=20.0, help="largest voice upload in MiB (default 20)")
    p.add_argument("--max-upload-seconds", type=float, default=120.0,
                   help="longest voice upload in seconds (default 120)")
    p.add_argument("--chunk-policy", choices=("first_clause", "fewest"), default="first_clause",
                   help="first_clause: a text that needs several chunks starts with a short one (its first clause) "
                        "so that audio starts early; fewest: the fewest chunks (default first_clause)")
    p.add_argument("--batch-frames", type=int, default=None, metavar="N",
                   help="frame budget of one model call: chunks of different requests share a call while batch "
                        "size x the longest chunk's frames <= N (default: 4000 on a GPU; on a CPU one chunk per "
                        "call, as batching brings no speed there)")
    p.add_argument("--drain-seconds", type=float, default=120.0,
                   help="on SIGTERM/SIGINT, wait this long for requests in progress (default 120)")
    p.add_argument("--cors-origin", action="append", default=[], metavar="ORIGIN",
                   help="let web pages from ORIGIN (e.g. https://app.example, or *) call the API; repeatable")
    p.add_argument("--allow-open", action="store_true",
                   help="serve on a non-loopback --host without an API key (refused otherwise: anyone who reaches "
                        "the port could delete every voice)")
    d = ServerSettings  # the defaults live on the settings, so that the help and the library agree
    p.add_argument("--max-uploads", type=int, default=d.max_uploads,
                   help=f"voice/consent uploads (and speech with an inline voice) handled at once; more get 429 with "
                        f"Retry-After (default {d.max_uploads})")
    p.add_argument("--max-connections", type=int, default=d.max_connections,
                   help="open connections at most; beyond it the oldest connection that has not sent a request "
                        f"head is closed, or the new one gets 503 (default {d.max_connections})")
    p.add_argument("--header-timeout", type=float, default=d.header_timeout,
                   help=f"seconds a client has to send a request's headers (default {d.header_timeout:g})")
    p.add_argument("--body-timeout", type=float, default=d.body_timeout,
                   help=f"seconds a request body may stall before the connection is closed (default "
                        f"{d.body_timeout:g})")
    p.add_argument("--keep-alive", type=float, default=d.keep_alive_timeout,
                   help=f"seconds an idle keep-alive connection stays open (default {d.keep_alive_timeout:g})")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"], help="server log level (default info)")
    from . import ray_cli

    ray_cli.configure(p)


def settings_from_args(args: argparse.Namespace):
    import os

    from ..errors import InvalidOptionError
    from ..hub import DEFAULT_MODEL
    from .settings import ServerSettings

    if args.max_upload_mb <= 0:
        raise InvalidOptionError(f"--max-upload-mb must be > 0, got {args.max_upload_mb}")
    return ServerSettings(
        model=str(args.model or os.environ.get("LUXTTS_MODEL") or DEFAULT_MODEL), device=args.device, dtype=args.dtype, quantize=args.quantize,
        threads=args.threads, host=args.host, port=args.port, voices_db=args.voices_db, max_queue=args.max_queue,
        api_key=args.api_key, require_consent=args.require_consent,
        max_upload_bytes=int(args.max_upload_mb * 1024 * 1024), max_upload_seconds=args.max_upload_seconds,
        chunk_policy=args.chunk_policy, batch_frames=args.batch_frames, cors_origins=tuple(args.cors_origin),
        default_voice=args.default_voice,
        max_uploads=args.max_uploads, max_connections=args.max_connections, header_timeout=args.header_timeout,
        body_timeout=args.body_timeout, keep_alive_timeout=args.keep_alive, allow_open=args.allow_open,
    )


def run(args: argparse.Namespace) -> int:
    import logging

    from . import ray_cli

    ray_cli.check(args)
    settings = settings_from_args(args)
    settings.check_exposure()
    if args.ray:
        logging.getLogger("luxtts").setLevel(args.log_level.upper())
        return ray_cli.run(args, settings)
    try:
        from .app import create_app
        from .connections import raise_open_file_limit, uvicorn_config
    except ImportError as exc:
        from ..errors import LuxTTSError

        raise LuxTTSError(f"luxtts serve needs the server extra: pip install 'luxtts[server]' ({exc})") from None

    import warnings

    logging.getLogger("luxtts").setLevel(args.log_level.upper())  # the root logger stays as luxtts.cli set it
    # luxtts warns about text it drops, quoting it: a server's log must not hold what its users asked to say
    warnings.filterwarnings("ignore", category=UserWarning, module=r"luxtts\.")
    from ..voices import open_store

    open_store(settings.voices_db).close()  # a wrong --voices-db fails here, with its own message
    app = create_app(settings)
    raise_open_file_limit()
    config = uvicorn_config(app, settings.connection_limits, host=settings.host, port=settings.port,
                            log_level=args.log_level, timeout_graceful_shutdown=args.drain_seconds, access_log=False)
    state = app.state.luxtts
    server = _DrainingServer(config, state)
    # a model that cannot load makes a server that can only say 503: stop, and say why, instead
    state.on_load_error = lambda: setattr(server, "should_exit", True)
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    logging.getLogger("luxtts.server").info("serving %s on http://%s:%d (API key %s)", settings.model, host,
                                            settings.port, "required" if settings.api_key else "off")
    server.run()
    if not server.started or state.load_error:  # uvicorn or the model loader logged why
        return 1
    logging.getLogger("luxtts.server").info("stopped")
    return 0


def _server_class():
    import signal

    import uvicorn

    class DrainingServer(uvicorn.Server):
        """On SIGTERM/SIGINT: /ready turns 503 and new speech is refused while requests in progress finish."""

        def __init__(self, config, state) -> None:
            super().__init__(config)
            self.luxtts = state

        def handle_exit(self, sig, frame) -> None:
            # uvicorn's own handler re-raises the signal after the drain, so that the process dies of it; a
            # clean drain is a clean exit here (status 0). A second SIGINT still forces the exit.
            self.luxtts.draining = True
            if self.should_exit and sig == signal.SIGINT:
                self.force_exit = True
            else:
                self.should_exit = True

    return DrainingServer


def _DrainingServer(config, state):  # noqa: N802 - builds the uvicorn subclass lazily
    return _server_class()(config, state)
