"""Which library voice a request means when it names none (or, later, a name the library does not hold).

One rule for every front end (HTTP and Wyoming): a name the library holds wins; no name at all means the
default voice: the one configured (``--default-voice``), else the library's only voice when it holds exactly one.
"""

from __future__ import annotations

from typing import Optional

from ..errors import VoiceNotFoundError


def choose_voice(store, requested: Optional[str], default_voice: Optional[str]) -> str:
    """The name or id to load for ``requested`` (None: no voice named); VoiceNotFoundError saying how to fix it."""
    if requested:
        return requested
    if default_voice:
        return default_voice
    names = store.names()
    if len(names) == 1:
        return names[0]
    held = f"the library holds {len(names)} voices" if names else "the library is empty"
    raise VoiceNotFoundError(f"no voice was named and there is no default voice ({held}): name one, or start the "
                             "server with --default-voice NAME")
