"""From what a person typed to a voice: an audio file, a saved voice file, or a name or id in the library."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional, Union

from ..errors import InvalidOptionError, PromptError, VoiceNotFoundError
from .library import open_store
from .names import VOICE_SUFFIX, check_name, looks_like_voice_id

if TYPE_CHECKING:
    from ..prompt import VoicePrompt


def find_voice(value: str, url: Optional[str] = None) -> Union[Path, "VoicePrompt"]:
    """What ``--voice VALUE`` names: an existing audio file (its Path), a voice file, or a saved voice name or
    id (the loaded VoicePrompt). Raises VoiceNotFoundError for anything else."""
    from ..prompt import VoicePrompt

    path = Path(value).expanduser()
    if path.is_file():
        return VoicePrompt.load(path) if path.suffix == VOICE_SUFFIX else path
    if path.is_dir():
        raise InvalidOptionError(f"voice {value!r} is a folder; give an audio file or a saved voice name")
    try:
        check_name(value)
    except InvalidOptionError:
        if not looks_like_voice_id(value):
            raise VoiceNotFoundError(f"voice {value!r} is neither an audio file nor a saved voice name") from None
    with open_store(url) as store:
        try:
            return store.load_prompt(value)
        except VoiceNotFoundError as e:
            raise VoiceNotFoundError(f"voice {value!r} is neither an audio file nor a saved voice: {e}") from None


def named_prompt(name: str) -> "VoicePrompt":
    """The prompt of the saved voice ``name`` (or id), for generation: what :func:`luxtts.prompt.as_prompt` is
    given to resolve a bare name with. Audio is refused, since generation needs an encoded prompt."""
    from ..prompt import AUDIO_HINT, VoicePrompt

    found = find_voice(name)
    if isinstance(found, VoicePrompt):
        return found
    raise PromptError(f"prompt {name!r} is audio: {AUDIO_HINT}")
