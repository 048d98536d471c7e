"""Model name or folder -> the local files of one acoustic model and its vocoder.

A name ``owner/repo`` (or ``owner/repo/subfolder``) is fetched with huggingface_hub into its cache;
``HF_HUB_OFFLINE=1`` is honoured. Folder layouts understood:

- LuxTTS: ``model.pt``, ``config.json``, ``tokens.txt``, ``vocoder/config.yaml``, ``vocoder/vocos.bin``
  (the 48 kHz dual-head Vocos).
- ZipVoice / ZipVoice-Distill: ``model.pt``, ``model.json``, ``tokens.txt``; the 24 kHz Vocos comes from the
  folder's ``vocoder/`` (``config.yaml`` + ``pytorch_model.bin``) or from ``charactr/vocos-mel-24khz``.
- Either of the above with ``model.safetensors`` (and ``vocoder/model.safetensors``) in place of the torch
  files: what ``luxtts convert`` writes.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, List, Optional, Sequence, Tuple, Union

from .errors import InvalidOptionError, LuxTTSError, ModelNotFoundError

DEFAULT_MODEL = "YatharthS/LuxTTS"
DEFAULT_VOCODER_24K = "charactr/vocos-mel-24khz"

_MODEL_WEIGHTS = ("model.safetensors", "model.pt")
_LUX_VOCODER_WEIGHTS = ("model.safetensors", "vocos.bin")
_VOCOS_WEIGHTS = ("model.safetensors", "pytorch_model.bin")
_SMALL_FILES = ["*.json", "*.txt", "*.yaml"]
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+(/[\w.-]+)*$")
_OFFLINE_VALUES = {"1", "on", "yes", "true"}

PathLike = Union[str, os.PathLike]


@dataclass(frozen=True)
class ModelFiles:
    """Where the pieces of one model are. layout: "luxtts" or "zipvoice"."""

    source: str
    folder: Path
    layout: str
    checkpoint: Path
    config: Path
    tokens: Path
    vocoder_config: Path
    vocoder_weights: Path

    @property
    def vocoder_is_48k(self) -> bool:
        return self.layout == "luxtts"

    def describe(self) -> str:
        return f"{self.source} ({self.layout} layout, {self.folder})"


def resolve_model(
    name_or_path: PathLike = DEFAULT_MODEL,
    *,
    vocoder: Optional[PathLike] = None,
    cache_dir: Optional[PathLike] = None,
    offline: Optional[bool] = None,
) -> ModelFiles:
    """Find (downloading if needed and allowed) the files of a model.

    ``vocoder``: a folder or repo id holding a 24 kHz Vocos, for ZipVoice layouts without one.
    ``offline``: None reads ``HF_HUB_OFFLINE`` now. Raises ModelNotFoundError.
    """
    name = _model_name("the model", name_or_path)
    if vocoder is not None:
        vocoder = _model_name("vocoder", vocoder)
    try:
        folder = _local_or_download(name, cache_dir, offline, patterns=None)
        return _detect(name, folder, vocoder, cache_dir, offline)
    except OSError as e:
        if isinstance(e, LuxTTSError):
            raise
        # ENAMETOOLONG and the like from probing a path: nothing can be found there.
        raise ModelNotFoundError(f"model {name[:80]!r}: cannot look there ({e.strerror or e})") from None


def _model_name(what: str, value: object) -> str:
    if not isinstance(value, (str, os.PathLike)) or isinstance(os.fspath(value), bytes):
        raise InvalidOptionError(f"{what} must be a folder path or a Hugging Face repo id (str), got {type(value).__name__}")
    return os.fspath(value)


def is_offline(offline: Optional[bool] = None) -> bool:
    if offline is not None:
        return bool(offline)
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _OFFLINE_VALUES


def is_cached(name: str, cache_dir: Optional[PathLike] = None) -> bool:
    """True when ``name`` is a local folder or its files are already in the Hugging Face cache."""
    try:
        _local_or_download(name, cache_dir, offline=True, patterns=None)
    except ModelNotFoundError:
        return False
    return True


# --------------------------------------------------------------------------------------------- lookup


def _local_or_download(name: str, cache_dir, offline, patterns: Optional[List[str]]) -> Path:
    path = Path(name).expanduser()
    if path.is_file():
        return path.parent
    if path.is_dir():
        return path
    if not _looks_like_repo(name):
        raise ModelNotFoundError(
            f"model folder not found: {name!r}; give an existing folder (holding model.pt, config.json, "
            f"tokens.txt, vocoder/) or a Hugging Face repo id such as {DEFAULT_MODEL!r}"
        )
    return _snapshot(name, cache_dir, offline, patterns)


def _looks_like_repo(name: str) -> bool:
    return bool(_REPO_ID.match(name)) and not name.startswith((".", "/", "~")) and ".." not in name.split("/")


def _split_repo(name: str) -> Tuple[str, str]:
    parts = name.split("/")
    return "/".join(parts[:2]), "/".join(parts[2:])


def _snapshot(name: str, cache_dir, offline, patterns: Optional[List[str]]) -> Path:
    """Download ``name`` in two passes: the small files first, to see the layout, then the weights it needs."""
    repo_id, sub = _split_repo(name)
    prefix = f"{sub}/" if sub else ""
    small = [prefix + p for p in _SMALL_FILES] + [prefix + "vocoder/*.yaml"]
    root = _download(name, repo_id, cache_dir, offline, small)
    folder = root / sub if sub else root
    if not folder.is_dir():
        raise ModelNotFoundError(f"{repo_id!r} has no folder {sub!r}")
    weights = patterns or _weight_patterns(folder, prefix)
    if weights:
        _download(name, repo_id, cache_dir, offline, weights)
    return folder


def _weight_patterns(folder: Path, prefix: str) -> List[str]:
    if not ((folder / "config.json").is_file() or (folder / "model.json").is_file()):
        return []  # nothing to fetch; _detect explains what is missing
    return [prefix + w for w in _MODEL_WEIGHTS] + [prefix + "vocoder/" + w for w in (*_LUX_VOCODER_WEIGHTS, *_VOCOS_WEIGHTS)]


def _download(name: str, repo_id: str, cache_dir, offline, patterns: Sequence[str]) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError, RepositoryNotFoundError

    local_only = is_offline(offline)
    try:
        path = snapshot_download(
            repo_id, cache_dir=None if cache_dir is None else os.fspath(cache_dir),
            local_files_only=local_only, allow_patterns=list(patterns),
        )
    except RepositoryNotFoundError:
        raise ModelNotFoundError(
            f"Hugging Face has no model repo {repo_id!r} (or it is private); check the name, or pass a local "
            "folder"
        ) from None
    except HFValidationError as e:
        raise ModelNotFoundError(f"{name!r} is neither a folder nor a valid repo id ({e})") from None
    except Exception as e:  # not cached (LocalEntryNotFoundError), or a network failure of several types
        raise ModelNotFoundError(_not_cached_message(name, cache_dir, local_only, e)) from None
    return Path(path)


def _not_cached_message(name: str, cache_dir, local_only: bool, error: BaseException) -> str:
    cache = os.fspath(cache_dir) if cache_dir is not None else _default_cache()
    why = "downloading is off (HF_HUB_OFFLINE=1)" if local_only else f"the download failed ({type(error).__name__})"
    return (
        f"model {name!r} is not in the Hugging Face cache ({cache}) and {why}. Download it once with network "
        "access, or pass a local folder instead: --model /path/to/folder on the command line, "
        "LuxTTS.from_pretrained('/path/to/folder') in Python (the folder holds model.pt, config.json, "
        "tokens.txt and vocoder/)"
    )


def _default_cache() -> str:
    try:
        from huggingface_hub import constants

        return str(constants.HF_HUB_CACHE)
    except ImportError:  # pragma: no cover - huggingface_hub is a dependency
        return "~/.cache/huggingface/hub"


# --------------------------------------------------------------------------------------------- layouts


def _first(folder: Path, names: Iterable[str]) -> Optional[Path]:
    for n in names:
        if (folder / n).is_file():
            return folder / n
    return None


def _detect(name: str, folder: Path, vocoder, cache_dir, offline) -> ModelFiles:
    tokens = folder / "tokens.txt"
    checkpoint = _first(folder, _MODEL_WEIGHTS)
    weights_label = "model.pt (or model.safetensors)"
    if (folder / "config.json").is_file() and (folder / "vocoder").is_dir():
        voc_dir = folder / "vocoder"
        voc_weights = _first(voc_dir, _LUX_VOCODER_WEIGHTS)
        _require(name, folder, "LuxTTS", {
            weights_label: checkpoint, "tokens.txt": tokens, "vocoder/config.yaml": voc_dir / "config.yaml",
            "vocoder/vocos.bin (or vocoder/model.safetensors)": voc_weights,
        })
        return ModelFiles(name, folder, "luxtts", checkpoint, folder / "config.json", tokens,
                          voc_dir / "config.yaml", voc_weights)
    config = _first(folder, ("model.json", "config.json"))
    if config is not None:
        _require(name, folder, "ZipVoice", {weights_label: checkpoint, "tokens.txt": tokens})
        voc_cfg, voc_weights = _vocos_24k(folder, vocoder, cache_dir, offline)
        return ModelFiles(name, folder, "zipvoice", checkpoint, config, tokens, voc_cfg, voc_weights)
    subs = sorted(p.name for p in folder.iterdir() if p.is_dir() and (p / "model.json").is_file())
    if subs:
        raise ModelNotFoundError(
            f"{name!r} holds several models ({', '.join(subs)}); name one, e.g. {name.rstrip('/')}/{subs[0]}"
        )
    raise ModelNotFoundError(
        f"{_where(name, folder)} is not a model folder: expected the LuxTTS layout (model.pt, config.json, "
        "tokens.txt, vocoder/config.yaml, vocoder/vocos.bin) or the ZipVoice one (model.pt, model.json, tokens.txt)"
    )


def _require(name: str, folder: Path, layout: str, required: dict) -> None:
    missing = [label for label, path in required.items() if path is None or not path.is_file()]
    if missing:
        raise ModelNotFoundError(
            f"{_where(name, folder)} looks like a {layout} model folder but lacks {', '.join(missing)}"
        )


def _where(name: str, folder: Path) -> str:
    return repr(str(folder)) if Path(name).expanduser().exists() else f"{name!r} ({folder})"


def _vocos_24k(folder: Path, vocoder, cache_dir, offline) -> Tuple[Path, Path]:
    """The 24 kHz Vocos: ``vocoder`` if given, else the folder's ``vocoder/``, else charactr/vocos-mel-24khz."""
    patterns = ["config.yaml", *_VOCOS_WEIGHTS]
    if vocoder is not None:
        found = _vocos_files(_local_or_download(os.fspath(vocoder), cache_dir, offline, patterns=patterns))
        if found is None:
            raise ModelNotFoundError(f"vocoder {os.fspath(vocoder)!r} lacks config.yaml and pytorch_model.bin")
        return found
    found = _vocos_files(folder / "vocoder")
    if found is None:
        found = _vocos_files(_local_or_download(DEFAULT_VOCODER_24K, cache_dir, offline, patterns=patterns))
    if found is None:
        raise ModelNotFoundError(f"{DEFAULT_VOCODER_24K} in the cache lacks config.yaml or pytorch_model.bin")
    return found


def _vocos_files(voc_dir: Path) -> Optional[Tuple[Path, Path]]:
    weights = _first(voc_dir, _VOCOS_WEIGHTS)
    if weights is None or not (voc_dir / "config.yaml").is_file():
        return None
    return voc_dir / "config.yaml", weights
