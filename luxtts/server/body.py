"""Reading request bodies: a size cap (413 before the whole thing is read), uploads spooled to disk, and a
bound on how many uploads are handled at once."""

from __future__ import annotations

import contextlib
import tempfile

from .errors import APIError

# An upload's body beyond this many bytes goes to a temporary file instead of memory.
SPOOL_BYTES = 1024 * 1024
UPLOAD_RETRY_SECONDS = 1


async def read_body(request, limit: int, what: str) -> bytes:
    """The whole body in memory (for small JSON bodies); 413 past ``limit`` bytes."""
    return b"".join([chunk async for chunk in _capped_stream(request, limit, what)])


async def spool_body(request, limit: int, what: str):
    """The body in a temporary file (in memory up to SPOOL_BYTES), rewound; 413 past ``limit`` bytes.
    The caller closes it."""
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
    try:
        async for chunk in _capped_stream(request, limit, what):
            spool.write(chunk)
        spool.seek(0)
        return spool
    except BaseException:
        spool.close()
        raise


async def _capped_stream(request, limit: int, what: str):
    """The body's chunks as they arrive; 413 from the declared length, or as soon as more than ``limit`` came."""
    _check_declared_length(request, limit, what)
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(size, limit, what)
        yield chunk


def replay(spool, chunk_bytes: int = 64 * 1024):
    """An ASGI ``receive`` that hands a spooled body out again, so that starlette's form parser reads it."""

    async def receive():
        data = spool.read(chunk_bytes)
        return {"type": "http.request", "body": data, "more_body": len(data) == chunk_bytes}

    return receive


async def discard_body(request, limit: int) -> None:
    """Read and drop up to ``limit`` bytes of the body, so that a client still sending it reads our answer
    instead of a reset connection."""
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return


@contextlib.asynccontextmanager
async def upload_slot(request, slots: "Slots", body_limit: int):
    """Hold one of the --max-uploads slots for the block; none free: the body (up to ``body_limit``) is read and
    dropped, so that the client reads the 429 rather than a reset connection."""
    if not slots.try_take():
        await discard_body(request, body_limit)
        raise too_many_uploads(slots.limit)
    try:
        yield
    finally:
        slots.give_back()


class Slots:
    """A count of things in progress with a hard maximum; taking one never waits (the loop thread only)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.taken = 0

    def try_take(self) -> bool:
        if self.taken >= self.limit:
            return False
        self.taken += 1
        return True

    def give_back(self) -> None:
        self.taken -= 1


def too_many_uploads(limit: int) -> APIError:
    return APIError(429, f"the server is handling {limit} uploads already (--max-uploads); retry after "
                         f"{UPLOAD_RETRY_SECONDS} s", code="too_many_uploads",
                    headers={"Retry-After": str(UPLOAD_RETRY_SECONDS)})


def _check_declared_length(request, limit: int, what: str) -> None:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise _too_large(int(length), limit, what)


def _too_large(size: int, limit: int, what: str) -> APIError:
    return APIError(413, f"the {what} is larger than the {limit // (1024 * 1024) or limit} "
                         f"{'MiB' if limit >= 1024 * 1024 else 'bytes'} accepted (got at least {size} bytes)",
                    code="request_too_large")
