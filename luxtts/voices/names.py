"""What names a voice: its name (chosen by a person) and its id (made here). No I/O, no other luxtts module but
errors, so every part of the library and its callers can check a name before anything is opened."""

from __future__ import annotations

import re
import secrets

from ..errors import InvalidOptionError

VOICE_SUFFIX = ".safetensors"
VOICE_ID_PREFIX = "voice_"
CONSENT_ID_PREFIX = "cons_"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")
_VOICE_ID = re.compile(r"voice_[0-9a-f]{32}\Z")
_ID = re.compile(r"(voice|cons)_[0-9a-f]{32}\Z")


def new_id(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def looks_like_id(value: str) -> bool:
    """A voice or consent id (prefix and 32 hex digits)."""
    return bool(_ID.match(value))


def looks_like_voice_id(value: str) -> bool:
    return bool(_VOICE_ID.match(value))


_SHOWN_MAX = 72  # characters of a refused name's repr in the message


def check_name(name: str) -> str:
    """Return ``name`` if it can name a voice, else raise InvalidOptionError saying what is wrong.

    Names never become paths, but they are shown in listings, URLs and messages: 1-64 letters, digits, '_',
    '-' or '.', starting with a letter or digit, and not shaped like a voice id.
    """
    rule = "use 1-64 letters, digits, '_', '-' or '.', starting with a letter or digit"
    if not isinstance(name, str):
        raise InvalidOptionError(f"a voice name must be a string, got {type(name).__name__}")
    if _NAME.match(name) and not name.endswith(VOICE_SUFFIX) and not looks_like_voice_id(name):
        return name
    # repr spells an unprintable character in up to 10 (\U0001f23c): the message is bounded by its repr's length
    shown = repr(name)
    if len(shown) > _SHOWN_MAX:
        shown = f"{shown[:_SHOWN_MAX - 8]}... ({len(name)} characters)"
    if len(name) > 64:
        why = f"it is {len(name)} characters long"
    elif "\x00" in name:
        why = "it contains a NUL character"
    elif any(ord(c) < 32 or ord(c) == 127 for c in name):
        why = "it contains a control character"
    elif "/" in name or "\\" in name:
        why = "it contains a path separator"
    elif looks_like_voice_id(name):
        why = "it looks like a voice id (voice_ and 32 hex digits)"
    elif name.endswith(VOICE_SUFFIX):
        why = f"it ends in {VOICE_SUFFIX}"
    else:
        why = None
    raise InvalidOptionError(f"voice name {shown} is not allowed: {why + '; ' if why else ''}{rule}")
