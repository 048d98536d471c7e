"""``luxtts wyoming``: the voice library over the Wyoming protocol, for Home Assistant. Light at import."""

from __future__ import annotations

import argparse

HELP = "serve the voice library over the Wyoming protocol (Home Assistant); needs luxtts[wyoming]"
DEFAULT_URI = "tcp://127.0.0.1:10200"


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--uri", default=DEFAULT_URI,
                   help=f"where to listen: tcp://HOST:PORT or unix://PATH (default {DEFAULT_URI}: this machine "
                        "only; tcp://0.0.0.0:10200 for Home Assistant on another host)")
    from ..commands.common import add_model_args

    add_model_args(p)  # --model, --device, --dtype as `luxtts speak` has them
    p.add_argument("--quantize", choices=["int8"], default=None, help="int8 linear layers (CPU, float32)")
    p.add_argument("--threads", type=int, default=None, help="intra-op threads (default: available cores)")
    p.add_argument("--voices-db", default=None, metavar="URL",
                   help="voice library: a SQLite file, sqlite:///path or postgresql://... (default: "
                        "$LUXTTS_VOICES_DB, else voices.db in the luxtts data dir)")
    p.add_argument("--default-voice", default=None, metavar="NAME",
                   help="the voice for requests that name none (default: the library's only voice, if it has one)")
    p.add_argument("--sample-rate", type=int, choices=(24000, 48000), default=24000, help="rate of the audio sent")
    p.add_argument("--max-queue", type=int, default=16,
                   help="requests admitted at once (running or waiting); more are answered 'busy'")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"], help="log level")


def run(args: argparse.Namespace) -> int:
    import asyncio
    import logging
    import os

    from ..errors import LuxTTSError

    try:
        import wyoming  # noqa: F401 - checked here for a clear message

        from .server import check_uri, open_service, serve
        from .service import WyomingOptions
    except ImportError as exc:
        raise LuxTTSError(f"luxtts wyoming needs the wyoming extra: pip install 'luxtts[wyoming]' ({exc})") from None
    from ..hub import DEFAULT_MODEL
    from ..server.settings import ServerSettings

    import warnings

    check_uri(args.uri)
    logging.getLogger("luxtts").setLevel(args.log_level.upper())
    # luxtts warns about text it drops, quoting it: a server's log must not hold what its users asked to say
    warnings.filterwarnings("ignore", category=UserWarning, module=r"luxtts\.")
    settings = ServerSettings(model=str(args.model or os.environ.get("LUXTTS_MODEL") or DEFAULT_MODEL),
                              device=args.device, dtype=args.dtype, quantize=args.quantize, threads=args.threads,
                              voices_db=args.voices_db, max_queue=args.max_queue)
    service = open_service(settings, WyomingOptions(sample_rate=args.sample_rate, default_voice=args.default_voice))
    try:
        asyncio.run(serve(service, args.uri))
    finally:
        service.close()
    logging.getLogger("luxtts.wyoming").info("stopped")
    return 0
