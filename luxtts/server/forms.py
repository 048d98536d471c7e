"""multipart/form-data uploads, the same for every route that takes a recording (a new voice, a consent, a speech
request with its own voice): the --max-uploads slot, the size cap, parsing off the event loop, typed fields."""

import asyncio
import contextlib
import re

from .body import replay, spool_body, upload_slot
from .errors import bad_request, too_long

# Multipart overhead on top of the audio itself.
FORM_SLACK = 64 * 1024
AUDIO_TYPES = "wav, mp3, flac, ogg (vorbis or opus), webm, m4a/mp4 (aac)"
_BAD_NAME = re.compile(r"[\x00-\x1f\x7f/\\]")


def is_form(request) -> bool:
    return request.headers.get("content-type", "").startswith("multipart/form-data")


@contextlib.asynccontextmanager
async def uploaded_form(state, request, max_fields: int = 16):
    """The multipart fields of an upload, while this request holds one of the --max-uploads slots."""
    limit = state.settings.max_upload_bytes + FORM_SLACK
    async with upload_slot(request, state.uploads, limit):
        spool = await spool_body(request, limit, "upload")
        try:
            if not is_form(request):
                ctype = request.headers.get("content-type", "")
                raise bad_request(f"send the fields as multipart/form-data, got content type {ctype[:80]!r}",
                                  None, "invalid_content_type")
            try:
                values = await asyncio.to_thread(_parse_form, request.scope, spool,
                                                 state.settings.max_upload_bytes + 1, max_fields)
            except Exception as exc:  # noqa: BLE001 - python-multipart raises several types for broken bodies
                raise bad_request(f"the multipart body cannot be parsed: {str(exc)[:200]}", None,
                                  "invalid_multipart") from None
        finally:
            spool.close()
        try:
            yield values
        finally:
            await values.close()  # file parts over 1 MB were spooled to temporary files


def text_field(values, field: str, required: bool = False, limit: int = 20_000):
    """A form's text field (None if absent or empty); 400 for a file in its place or more than ``limit``."""
    value = values.get(field)
    if value is None or value == "":
        if required:
            raise bad_request(f"'{field}' is required", field, "missing_required_parameter")
        return None
    if not isinstance(value, str):
        raise bad_request(f"'{field}' must be a text field, not a file", field, "invalid_type")
    if len(value) > limit:
        raise too_long(field, len(value), limit)
    return value


async def file_field(values, field: str):
    """(bytes, a filename safe to show) of the form's file ``field``; 400 if it is missing or not a file."""
    data = values.get(field)
    if data is None or isinstance(data, str):
        raise bad_request(f"'{field}' is required: an audio file ({AUDIO_TYPES})", field,
                          "missing_required_parameter")
    return await data.read(), safe_filename(data.filename or field)


def safe_filename(name: str) -> str:
    base = re.split(r"[/\\]", name)[-1]
    base = _BAD_NAME.sub("_", base)[:255]
    return base or "upload"


def _parse_form(scope, spool, max_part_size: int, max_fields: int):
    """Parse a spooled multipart body on a worker thread, in an event loop of its own: the parser is Python
    working through up to --max-upload-mb of bytes, which would stall every other request on the server's loop."""
    from starlette.requests import Request

    async def parse():
        return await Request(scope, replay(spool)).form(max_files=2, max_fields=max_fields,
                                                        max_part_size=max_part_size)

    return asyncio.run(parse())
