"""Evaluation lists: Seed-TTS-eval's ``id|prompt_text|prompt_wav|target_text`` lines, or JSONL of those fields.

Relative ``prompt_wav`` paths are resolved against the list's folder. An empty prompt_text means "transcribe
the prompt". Blank lines and lines starting with ``#`` are skipped.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import List

from ..errors import EvalListError

FIELDS = ("id", "prompt_text", "prompt_wav", "target_text")
# An id becomes a file name (<id>.wav): keep it to characters that are safe on every file system.
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


@dataclass(frozen=True)
class EvalItem:
    id: str
    prompt_text: str
    prompt_wav: Path
    target_text: str


def read_list(path: os.PathLike | str) -> List[EvalItem]:
    """Parse a list file; format chosen by suffix (.jsonl / .json -> JSONL, anything else -> pipe lines)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise EvalListError(f"--list {path}: no such file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise EvalListError(f"--list {path}: cannot read it as UTF-8 text ({e})") from None
    jsonl = path.suffix.lower() in (".jsonl", ".json")
    items: List[EvalItem] = []
    seen = set()
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        where = f"--list {path}, line {number}"
        fields = _json_fields(line, where) if jsonl else _pipe_fields(line, where)
        item = _item(fields, path.parent, where)
        if item.id in seen:
            raise EvalListError(f"{where}: id {item.id!r} appears twice; ids name the output files and must be unique")
        seen.add(item.id)
        items.append(item)
    if not items:
        raise EvalListError(f"--list {path}: no items (expected lines of {'|'.join(FIELDS)}, or JSONL with those keys)")
    return items


def _pipe_fields(line: str, where: str) -> dict:
    parts = line.rstrip("\r\n").split("|")
    if len(parts) != len(FIELDS):
        raise EvalListError(f"{where}: expected {len(FIELDS)} fields {'|'.join(FIELDS)}, got {len(parts)}")
    return dict(zip(FIELDS, parts, strict=True))


def _json_fields(line: str, where: str) -> dict:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as e:
        raise EvalListError(f"{where}: not valid JSON ({e.msg} at column {e.colno})") from None
    if not isinstance(obj, dict):
        raise EvalListError(f"{where}: expected a JSON object with keys {', '.join(FIELDS)}")
    missing = [k for k in FIELDS if k != "prompt_text" and k not in obj]
    if missing:
        raise EvalListError(f"{where}: missing key(s) {', '.join(missing)}")
    bad = [k for k in FIELDS if obj.get(k) is not None and not isinstance(obj.get(k), str)]
    if bad:
        raise EvalListError(f"{where}: {', '.join(bad)} must be strings")
    return {k: obj.get(k) or "" for k in FIELDS}


def _item(fields: dict, base: Path, where: str) -> EvalItem:
    item_id = fields["id"].strip()
    if not _SAFE_ID.match(item_id):
        raise EvalListError(
            f"{where}: id {item_id!r} must start with a letter or digit and hold only letters, digits, '.', '_' "
            "and '-' (it names the output file)"
        )
    if not fields["target_text"].strip():
        raise EvalListError(f"{where}: target_text is empty")
    if not fields["prompt_wav"].strip():
        raise EvalListError(f"{where}: prompt_wav is empty")
    wav = Path(fields["prompt_wav"].strip()).expanduser()
    return EvalItem(item_id, fields["prompt_text"].strip(), wav if wav.is_absolute() else base / wav,
                    fields["target_text"].strip())
