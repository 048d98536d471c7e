"""Reading request bodies with a size cap (413 before the whole thing is in memory)."""

from __future__ import annotations

from .errors import APIError


async def read_body(request, limit: int, what: str) -> bytes:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise _too_large(int(length), limit, what)
    parts = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(size, limit, what)
        parts.append(chunk)
    body = b"".join(parts)
    request._body = body  # starlette's form() and json() read the cached body from here
    return body


def _too_large(size: int, limit: int, what: str) -> APIError:
    return APIError(413, f"the {what} is larger than the {limit // (1024 * 1024) or limit} "
                         f"{'MiB' if limit >= 1024 * 1024 else 'bytes'} accepted (got at least {size} bytes)",
                    code="request_too_large")
