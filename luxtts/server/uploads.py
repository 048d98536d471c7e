"""An uploaded recording -> a voice prompt, with the same limits and errors wherever a recording comes in (a new
library voice, a request's inline voice)."""

from __future__ import annotations

import logging
from typing import Optional

from .. import errors as lux
from .codecs import UploadTooLong, probe_seconds, readable_upload
from .errors import APIError, bad_request, from_luxtts

logger = logging.getLogger("luxtts.server")


def readable_recording(raw: bytes, field: str, settings):
    """What luxtts's loader takes for ``raw``, the upload in ``field``: 413 over --max-upload-mb or
    --max-upload-seconds, 400 for an empty or undecodable file. Blocking (decodes): run it in a thread."""
    limit = settings.max_upload_bytes
    if len(raw) > limit:
        raise APIError(413, f"'{field}' is {len(raw)} bytes; the most accepted is {limit}", param=field,
                       code="file_too_large")
    if not raw:
        raise bad_request(f"'{field}' is an empty file", field, "empty_audio")
    seconds = probe_seconds(raw)
    if seconds is not None and seconds > settings.max_upload_seconds:
        raise APIError(413, f"'{field}' is {seconds:.1f} s long; the most accepted is "
                            f"{settings.max_upload_seconds:g} s", param=field, code="audio_too_long")
    try:
        return readable_upload(raw, field, settings.max_upload_seconds)
    except lux.LuxTTSError as exc:
        raise from_luxtts(exc, field) from None
    except UploadTooLong as exc:
        raise APIError(413, f"'{field}' holds more than {exc.seconds:g} s of audio, the most accepted",
                       param=field, code="audio_too_long") from None


def encode_recording(tts, source, transcript: Optional[str], field: str, transcript_field: str = "transcript"):
    """``tts.encode_prompt`` with its failures as the 400 naming the field at fault. Blocking: run it in a thread."""
    try:
        return tts.encode_prompt(source, text=transcript)
    except (lux.TranscriptionUnavailableError, lux.TextError) as exc:
        raise from_luxtts(exc, transcript_field) from None
    except lux.LuxTTSError as exc:
        raise from_luxtts(exc, field) from None
    except Exception as exc:  # noqa: BLE001 - only speech recognition can fail this way (model download...)
        if transcript is not None:
            raise
        logger.warning("speech recognition failed: %s", type(exc).__name__)
        raise bad_request(f"no '{transcript_field}' was sent and speech recognition failed on this server "
                          f"({type(exc).__name__}); send the words of the recording as '{transcript_field}'",
                          transcript_field, "transcript_required") from None
