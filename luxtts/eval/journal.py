"""The evaluation journal: one JSON line per scored (config, item) in ``items.jsonl``, appended as results are
made and synced, so that a run killed at any point can resume from what it wrote. The runner writes it and the
reports read it; neither needs the other for that."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, Tuple

JOURNAL = "items.jsonl"


def read_journal(out_dir: Path) -> Dict[Tuple[str, str], Dict[str, Any]]:
    """The latest record per (config, id); a torn last line (a run killed mid-write) is ignored."""
    path = out_dir / JOURNAL
    records: Dict[Tuple[str, str], Dict[str, Any]] = {}
    if not path.is_file():
        return records
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict) and "config" in rec and "id" in rec:
            records[(rec["config"], rec["id"])] = rec
    return records


def append_record(out_dir: Path, record: Dict[str, Any]) -> None:
    with open(out_dir / JOURNAL, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
