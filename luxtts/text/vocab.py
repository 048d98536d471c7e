"""The token table of a model: ``tokens.txt`` with one ``token<TAB>id`` per line."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping

from luxtts.errors import ConfigError, ModelNotFoundError

PAD_TOKEN = "_"

logger = logging.getLogger(__name__)


def load_vocab(path: str | os.PathLike[str]) -> dict[str, int]:
    """Read a token table; the result maps token -> id, its length is the model's vocab size."""
    try:
        with open(path, encoding="utf-8", newline="") as f:
            lines = f.read().split("\n")
    except FileNotFoundError:
        raise ModelNotFoundError(f"token file not found: {os.fspath(path)!r} (expected a tokens.txt)") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"token file {os.fspath(path)!r} is not UTF-8 text: {e}") from None
    while lines and lines[-1] == "":
        lines.pop()
    vocab = parse_vocab(lines, source=os.fspath(path))
    return vocab


def parse_vocab(lines: Iterable[str], source: str = "<tokens>") -> dict[str, int]:
    """Build the token -> id map from ``token<TAB>id`` lines, checking that ids are 0..n-1 and unique."""
    vocab: dict[str, int] = {}
    seen_ids: dict[int, str] = {}
    for number, line in enumerate(lines, start=1):
        token, token_id = _parse_line(line, number, source)
        if token in vocab:
            raise ConfigError(f"{source} line {number}: token {token!r} is listed twice")
        if token_id in seen_ids:
            raise ConfigError(f"{source} line {number}: id {token_id} is used by {seen_ids[token_id]!r} and {token!r}")
        vocab[token] = token_id
        seen_ids[token_id] = token
    if not vocab:
        raise ConfigError(f"{source} has no tokens")
    too_big = [i for i in seen_ids if i >= len(vocab)]
    if too_big:
        raise ConfigError(f"{source}: ids must be 0..{len(vocab) - 1} (one per line), got {sorted(too_big)[:5]}")
    if PAD_TOKEN not in vocab:
        raise ConfigError(f"{source} has no padding token {PAD_TOKEN!r}")
    return vocab


def _parse_line(line: str, number: int, source: str) -> tuple[str, int]:
    # The space token is a line starting with " ", so only the line end may be trimmed.
    line = line.rstrip("\r\n")
    token, sep, id_text = line.rpartition("\t")
    if not sep or token == "":
        raise ConfigError(f"{source} line {number}: expected 'token<TAB>id', got {line!r}")
    id_text = id_text.strip()
    if not id_text.isascii() or not id_text.isdigit():
        raise ConfigError(f"{source} line {number}: id must be a non-negative integer, got {id_text!r}")
    return token, int(id_text)


def tokens_to_ids(tokens: Iterable[str], vocab: Mapping[str, int]) -> list[int]:
    """Map token strings to ids; tokens missing from the table are skipped (logged at debug level)."""
    ids: list[int] = []
    for token in tokens:
        token_id = vocab.get(token)
        if token_id is None:
            logger.debug("skipping out-of-vocabulary token %r", token)
            continue
        ids.append(token_id)
    return ids
