"""Exception types: one per thing a user can get wrong.

Every error derives from :class:`LuxTTSError`; those that are about a bad value also derive from
``ValueError``, a value of the wrong type from ``TypeError``, and file-system failures from ``OSError``
(``FileNotFoundError``, ``FileExistsError``), so generic handlers keep working.
"""

from __future__ import annotations

# Messages name the argument and what is accepted; a value is shown by `brief`, never dumped. The clip is a
# last guard for messages that embed text the user gave (a path, a transcript).
MAX_MESSAGE = 400


class LuxTTSError(Exception):
    """Base class of every error luxtts raises on purpose."""

    def __init__(self, *args: object) -> None:
        super().__init__(*args)
        if args and isinstance(args[0], str) and len(args[0]) > MAX_MESSAGE:
            text = args[0]
            half = MAX_MESSAGE // 2 - 3
            self.args = (f"{text[:half]} ... {text[-half:]}", *args[1:])


def brief(value: object, limit: int = 60) -> str:
    """A short description of ``value`` for an error message: type and shape for arrays, a clipped repr else."""
    shape = getattr(value, "shape", None)
    if shape is not None and not isinstance(value, (str, bytes)):
        dtype = getattr(value, "dtype", None)
        return f"<{type(value).__name__} {dtype} shape {tuple(shape)}>"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"<{type(value).__name__} of {len(value)} bytes>"
    if isinstance(value, (list, tuple, set, dict)) and len(value) > 8:
        return f"<{type(value).__name__} of {len(value)} items>"
    try:
        text = repr(value)
    except Exception:  # a user object whose repr fails must not hide the real error
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 5] + " ...>"


class InvalidOptionError(LuxTTSError, ValueError):
    """An argument has a value outside what is accepted (steps, speed, device, format, ...)."""


class PromptError(InvalidOptionError):
    """The prompt argument is not a usable voice prompt: audio where an encoded prompt is expected, an unknown
    kind of object, or a VoicePrompt whose content is invalid (non-finite features, bad rms, wrong size)."""


class ConfigError(LuxTTSError, ValueError):
    """A model or vocoder config file is malformed, has unknown keys, or names something unsupported."""


class CheckpointError(LuxTTSError, ValueError):
    """A weight file cannot be loaded safely, or its keys/shapes do not match the config."""


class ModelNotFoundError(LuxTTSError, FileNotFoundError):
    """A model name or folder could not be resolved to local files (offline and not cached, missing files)."""


class AudioError(LuxTTSError, ValueError):
    """Base class for problems with an input recording."""


class AudioFileNotFoundError(AudioError, FileNotFoundError):
    """The audio path does not exist."""


class AudioDecodeError(AudioError):
    """The file exists but is not audio we can decode (corrupt, truncated, unsupported format)."""


class EmptyAudioError(AudioError):
    """The recording has no samples."""


class SilentAudioError(AudioError):
    """The recording is digital silence: there is no voice to clone."""


class PromptTooShortError(AudioError):
    """The recording is shorter than the minimum prompt length."""


class NonFiniteAudioError(AudioError):
    """The samples contain NaN or infinity."""


class AudioWriteError(LuxTTSError, ValueError):
    """Output audio cannot be written as asked (format, sample rate, path)."""


class TextError(LuxTTSError, ValueError):
    """Base class for problems with the input text."""


class EmptyTextError(TextError):
    """The text is empty or only whitespace."""


class TextTypeError(TextError, TypeError):
    """The text is not a ``str`` (bytes, a number, a list...); token ids go through ``luxtts.Tokens``."""


class UnspeakableTextError(TextError):
    """The text has no character the tokenizer can turn into a token."""


class TranscriptionUnavailableError(LuxTTSError, RuntimeError):
    """No prompt transcript was given and no speech recognition backend is installed."""


class VoiceNotFoundError(LuxTTSError, KeyError):
    """A saved voice name does not exist."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class VoiceNotChosenError(VoiceNotFoundError):
    """A request named no voice, or one of OpenAI's built-in voices, and neither an alias nor a default voice says
    which library voice that means."""


class AliasNotFoundError(VoiceNotFoundError):
    """An alias to remove does not exist."""


class VoiceFileNotFoundError(VoiceNotFoundError, FileNotFoundError):
    """A saved voice file path (``.safetensors``) does not exist."""


class VoiceWriteError(LuxTTSError, OSError):
    """A voice prompt cannot be saved to the given path (missing folder, a folder, no permission, disk full)."""


class OutputExistsError(LuxTTSError, FileExistsError):
    """The output file exists and overwriting it was not asked for (``overwrite=True``, ``--force``)."""


class OutputIsInputError(LuxTTSError, ValueError):
    """The output path is one of the command's own inputs (a recording, a text file, model files)."""


class ResumeError(LuxTTSError, ValueError):
    """An interrupted job cannot be resumed as asked (no job, other settings, damaged partial file)."""


class EvalListError(InvalidOptionError):
    """An evaluation list (Seed-TTS-eval ``id|prompt_text|prompt_wav|target_text`` or JSONL) is malformed."""


class SpeakerModelUnavailableError(LuxTTSError, RuntimeError):
    """The speaker-embedding backend asked for is not installed or cannot load its weights."""


class VoiceExistsError(LuxTTSError, ValueError):
    """A voice of that name is already in the voice library."""


class ConsentNotFoundError(LuxTTSError, KeyError):
    """A voice consent id does not exist."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class VoiceStoreError(LuxTTSError, RuntimeError):
    """The voice library cannot be opened or used (bad URL, unreachable server, newer schema, missing driver)."""


class NativeKernelError(LuxTTSError, RuntimeError):
    """$LUXTTS_NATIVE=on, but the native CPU kernel cannot be built or loaded here (the message says why)."""
