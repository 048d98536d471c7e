"""A long ``speak`` job on disk: audio streamed into its container as it is made, and a state file to resume.

While the job runs, the target path is not touched. The audio goes into ``<output>.partial`` (the final
container: wav, flac, ogg, opus or mp3, written incrementally through libsndfile), and after every finished
chunk ``<output>.partial.json`` records how many chunks and samples are in it, the settings that must not
change, the seed, and the few milliseconds of audio held back for the next cross-fade. At the end the
partial file is renamed over the target (atomic on one file system) and the state file removed.

Ctrl-C or SIGTERM closes the partial file properly (a playable file up to the last chunk) and keeps the state;
``speak --resume`` copies the recorded samples into a fresh partial file and continues from the next chunk,
drawing the skipped chunks' seeded noise so that the audio equals an uninterrupted run's. After a hard kill
(SIGKILL, power loss) a wav partial is still resumable, since its header is rewritten after every chunk; the
other containers are finalized only on close, so such a job must be started again (``--force``).
Lossy containers decode and re-encode the finished part on resume (one more generation of coding for it);
wav and flac resume bit-exact.
"""

from __future__ import annotations

import base64
import contextlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np

from ..errors import ResumeError

STATE_VERSION = 1
# libsndfile's SFC_UPDATE_HEADER_NOW: rewrites a wav header's sizes for the samples written so far.
_SFC_UPDATE_HEADER_NOW = 0x1060
_COPY_BLOCK = 1 << 18


def partial_path(output: Path) -> Path:
    return output.with_name(output.name + ".partial")


def state_path(output: Path) -> Path:
    return output.with_name(output.name + ".partial.json")


@dataclass
class JobState:
    """What ``<output>.partial.json`` holds."""

    settings: Dict[str, Any]
    seed: int
    chunks_done: int = 0
    chunks_total: Optional[int] = None
    frames: int = 0
    held: Optional[str] = None  # base64 float32 samples, the cross-fade tail not yet in the file
    version: int = STATE_VERSION
    extra: Dict[str, Any] = field(default_factory=dict)

    def held_tensor(self):
        import torch

        if self.held is None:
            return None
        return torch.from_numpy(np.frombuffer(base64.b64decode(self.held), dtype="<f4").copy())

    def set_held(self, tensor) -> None:
        self.held = None if tensor is None else base64.b64encode(
            tensor.detach().cpu().numpy().astype("<f4").tobytes()).decode("ascii")


def load_state(output: Path) -> Optional[JobState]:
    path = state_path(output)
    if not path.is_file():
        return None
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if raw.get("version") != STATE_VERSION:
            raise ValueError(f"state version {raw.get('version')!r}, this luxtts writes {STATE_VERSION}")
        return JobState(**raw)
    except (OSError, ValueError, TypeError) as e:
        raise ResumeError(f"{path} is not a readable job state ({e}); start over with --force") from None


def save_state(output: Path, state: JobState) -> None:
    """Atomically replace the state file, synced: it must never claim more than the partial file holds."""
    from ..fileio import write_text_atomically

    write_text_atomically(state_path(output), json.dumps(asdict(state)), sync=True)


def discard(output: Path) -> None:
    for path in (partial_path(output), state_path(output), partial_path(output).with_name(
            partial_path(output).name + ".new")):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def settings_diff(saved: Dict[str, Any], now: Dict[str, Any]) -> str:
    keys = sorted(k for k in set(saved) | set(now) if saved.get(k) != now.get(k))
    return ", ".join(f"{k} (was {saved.get(k)!r}, now {now.get(k)!r})" for k in keys)


class AudioSink:
    """Mono float audio appended to a libsndfile container, made durable chunk by chunk."""

    def __init__(self, path: Path, fmt: str, sample_rate: int) -> None:
        import soundfile as sf

        from ..audio.write import _resolve_subtype

        self.path = path
        self.fmt = fmt
        self.sample_rate = sample_rate
        sf_format, sf_subtype = _resolve_subtype(fmt, None, str(path))
        self._clip = sf_subtype != "FLOAT"
        self._file = sf.SoundFile(str(path), "w", sample_rate, 1, format=sf_format, subtype=sf_subtype)
        self.frames = 0

    def write(self, samples) -> None:
        data = samples.detach().cpu().numpy() if hasattr(samples, "detach") else np.asarray(samples)
        data = np.asarray(data, dtype=np.float32).reshape(-1)
        if not np.isfinite(data).all():
            from ..errors import NonFiniteAudioError

            raise NonFiniteAudioError(f"{self.path}: refusing to write audio containing NaN or infinity")
        if self._clip:
            data = np.clip(data, -1.0, 1.0)
        self._file.write(data)
        self.frames += data.shape[0]

    def sync(self) -> None:
        """Make what was written so far survive a crash (wav: header sizes too)."""
        if self.fmt == "wav":
            with contextlib.suppress(Exception):  # soundfile's low-level handle; only a robustness extra
                import soundfile as sf

                sf._snd.sf_command(self._file._file, _SFC_UPDATE_HEADER_NOW, sf._ffi.NULL, 0)
        self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()

    def copy_from(self, source: Path, frames: int) -> None:
        """Append the first ``frames`` samples of the file ``source`` (a resumed job's finished part)."""
        import soundfile as sf

        try:
            with sf.SoundFile(str(source), "r") as src:
                if src.channels != 1 or src.samplerate != self.sample_rate:
                    raise ResumeError(f"{source} is not this job's audio ({src.channels} ch, {src.samplerate} Hz)")
                left = frames
                while left > 0:
                    block = src.read(min(left, _COPY_BLOCK), dtype="float32")
                    if block.shape[0] == 0:
                        break
                    self.write(block)
                    left -= block.shape[0]
        except sf.LibsndfileError as e:
            raise ResumeError(f"{source} cannot be read back ({e}); start over with --force") from None
        if left > 0:
            raise ResumeError(
                f"{source} holds {frames - left} of the {frames} samples its state file records (the job was "
                "killed, not interrupted, and this container is only complete once closed); start over with --force"
            )
