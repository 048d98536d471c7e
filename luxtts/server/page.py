"""The web page at ``/``: three files shipped inside the package, served as they are (no CDN, works offline)."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

# The only files served: a fixed table, so no request path ever reaches the file system.
_FILES = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
# The page talks to the API of whichever server served it; nothing else is allowed to load.
_CSP = ("default-src 'self'; media-src 'self' blob:; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")


@lru_cache(maxsize=None)
def page_file(name: str) -> bytes:
    """The bytes of one of the page's files (KeyError for any other name)."""
    if name not in _FILES:
        raise KeyError(name)
    return resources.files(__package__).joinpath("static", name).read_bytes()


def mount_page(app) -> None:
    """Add ``GET /`` and ``GET /static/{index.html,app.js,style.css}`` to a FastAPI ``app``."""
    from fastapi import HTTPException
    from fastapi.responses import Response

    def respond(name: str) -> Response:
        headers = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff", "Content-Security-Policy": _CSP}
        return Response(page_file(name), media_type=_FILES[name], headers=headers)

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    def index() -> Response:
        return respond("index.html")

    @app.api_route("/static/{name}", methods=["GET", "HEAD"], include_in_schema=False)
    def static(name: str) -> Response:
        if name not in _FILES:
            raise HTTPException(status_code=404, detail=f"no such file: /static/{name}")
        return respond(name)
