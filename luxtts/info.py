"""``luxtts info``: versions, device, model and saved voices, without loading the model's weights."""

from __future__ import annotations

import platform
from typing import List, Optional, Tuple

from .errors import LuxTTSError


def report(model: Optional[str], device: str, fetch: bool = True) -> List[Tuple[str, str]]:
    """(label, value) lines. ``model`` None means the default model; ``fetch=False`` reports the model only
    if it is already available (a folder, or in the Hugging Face cache)."""
    import numpy
    import torch

    from . import __version__
    from .asr import available_backend
    from .hub import DEFAULT_MODEL, is_cached, is_offline, resolve_model
    from .devices import resolve_device
    from .voices import library_location, list_voices

    lines = [
        ("luxtts", __version__),
        ("python", platform.python_version()),
        ("torch", torch.__version__),
        ("numpy", numpy.__version__),
        ("device", f"{resolve_device(device)} (asked: {device}; cuda available: {torch.cuda.is_available()})"),
    ]
    name = model or DEFAULT_MODEL
    if not (fetch and model is not None) and not is_cached(name):
        if is_offline():
            lines.append(("model", f"{name} (not in the cache, and HF_HUB_OFFLINE=1 stops `luxtts speak` from "
                                   "fetching it: pass --model /path/to/folder)"))
        else:
            lines.append(("model", f"{name} (not downloaded yet; `luxtts speak` fetches it)"))
    else:
        files = resolve_model(name)
        lines += [("model", name), ("folder", str(files.folder)), ("variant", _variant(files)),
                  ("vocoder", "48 kHz dual-head Vocos" if files.vocoder_is_48k else "24 kHz Vocos")]
    from .runtime import native

    lines.append(("native kernel", native.status()))
    backend = available_backend()
    lines.append(("asr", backend or 'none (pass --voice-text, or pip install "luxtts[asr]")'))
    lines.append(("voices", f"{len(list_voices())} in {library_location()}"))
    return lines


def _variant(files) -> str:
    from .model import is_distilled
    from .weights import read_state_dict

    try:
        distilled = is_distilled(read_state_dict(files.checkpoint))
    except LuxTTSError as e:
        return f"unreadable weights ({e})"
    family = "LuxTTS" if files.layout == "luxtts" else "ZipVoice"
    return f"{family}, {'distilled (ZipVoice-Distill)' if distilled else 'base ZipVoice'}"
