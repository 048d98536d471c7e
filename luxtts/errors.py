"""Exception types: one per thing a user can get wrong.

Every error derives from :class:`LuxTTSError`; those that are about a bad value also derive from
``ValueError`` and those about a missing file from ``FileNotFoundError``, so generic handlers keep working.
"""

from __future__ import annotations


class LuxTTSError(Exception):
    """Base class of every error luxtts raises on purpose."""


class InvalidOptionError(LuxTTSError, ValueError):
    """An argument has a value outside what is accepted (steps, speed, device, format, ...)."""


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


class UnspeakableTextError(TextError):
    """The text has no character the tokenizer can turn into a token."""


class TranscriptionUnavailableError(LuxTTSError, RuntimeError):
    """No prompt transcript was given and no speech recognition backend is installed."""


class VoiceNotFoundError(LuxTTSError, KeyError):
    """A saved voice name does not exist."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class VoiceExistsError(LuxTTSError, ValueError):
    """A voice of that name is already in the voice library."""


class ConsentNotFoundError(LuxTTSError, KeyError):
    """A voice consent id does not exist."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class VoiceStoreError(LuxTTSError, RuntimeError):
    """The voice library cannot be opened or used (bad URL, unreachable server, newer schema, missing driver)."""
