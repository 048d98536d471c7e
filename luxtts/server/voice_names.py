"""Which library voice a request means, the same for every front end (HTTP and Wyoming).

Clients written for OpenAI send its built-in voice names ("alloy", livekit's default "ash", ...), which no
library holds unless someone made voices of those names. So, in order: a voice the library holds by that name
(or id) wins; then an alias (``luxtts voice alias alloy alice``, or PUT /v1/audio/voice_aliases/alloy); then one
of OpenAI's names means the default voice; no name at all means the default voice too. The default voice is the
one configured (``--default-voice``), else the library's only voice when it holds exactly one. What is left is a
VoiceNotChosenError that says how to choose.
"""

from __future__ import annotations

from typing import Optional

from ..errors import InvalidOptionError, VoiceNotChosenError, VoiceNotFoundError

# OpenAI's built-in voices (its speech API and Realtime), as clients name them.
OPENAI_VOICES = ("alloy", "ash", "ballad", "coral", "echo", "fable", "nova", "onyx", "sage", "shimmer", "verse",
                 "marin", "cedar")


def is_openai_voice(name: str) -> bool:
    return name.lower() in OPENAI_VOICES


def load_voice(store, requested: Optional[str], default_voice: Optional[str]):
    """The VoicePrompt ``requested`` means (None: no voice named). VoiceNotFoundError (from the store) for a name
    that is neither in the library nor OpenAI's; VoiceNotChosenError when nothing says which voice is meant."""
    if requested:
        try:
            return store.load_prompt(requested)
        except VoiceNotFoundError:
            target = store.alias_target(requested)
            if target is not None:
                return store.load_prompt(target)
            if not is_openai_voice(requested):
                raise
    key = _default(store, requested, default_voice)
    try:
        return store.load_prompt(key)
    except (VoiceNotFoundError, InvalidOptionError):
        raise VoiceNotChosenError(f"the default voice {key[:80]!r} (--default-voice) is not in the library: add it, "
                                  "or restart the server with another --default-voice") from None


def _default(store, requested: Optional[str], default_voice: Optional[str]) -> str:
    if default_voice:
        return default_voice
    names = store.names()
    if len(names) == 1:
        return names[0]
    held = f"the library holds {len(names)} voices" if names else "the library is empty"
    what = (f"voice {requested[:80]!r} is one of OpenAI's built-in voices and the library has no voice of that name"
            if requested else "no voice was named")
    how = (f"make it an alias of a library voice (luxtts voice alias {requested[:80]} NAME, or PUT "
           f"/v1/audio/voice_aliases/{requested[:80]} with {{\"voice\": NAME}}), " if requested else "")
    raise VoiceNotChosenError(f"{what}, and there is no default voice ({held}): {how}start the server with "
                              "--default-voice NAME, or name a library voice")
