"""Summaries of an evaluation: ``summary.json``, ``summary.md`` (a markdown table) and PNG plots.

Every file is written to a temporary name and renamed, so an interrupted run never leaves half a file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from ..fileio import replaced_atomically, write_text_atomically
from .journal import read_journal
from .metrics import corpus_rates

SUMMARY_JSON = "summary.json"
SUMMARY_MD = "summary.md"
PLOT_QUALITY = "wer_sim.png"
PLOT_SPEED = "rtf.png"


def _atomic(path: Path, write: Callable[[Path], None]) -> None:
    with replaced_atomically(path) as tmp:
        write(tmp)


def summarize(records: List[Dict[str, Any]], configs: List[str]) -> List[Dict[str, Any]]:
    """One row per config: item counts, corpus WER/CER, mean per-item WER, mean SIM, RTF, seconds per item."""
    rows = []
    for label in configs:
        mine = [r for r in records if r["config"] == label]
        ok = [r for r in mine if not r.get("error")]
        row: Dict[str, Any] = {"config": label, "items": len(mine), "failed": len(mine) - len(ok)}
        row.update(corpus_rates(ok))
        row["wer_mean"] = _mean(r["wer"] for r in ok)
        row["sim"] = _mean(r["sim"] for r in ok)
        synth = [r for r in ok if r.get("rtf") is not None]
        audio = sum(r["audio_seconds"] for r in synth)
        row["rtf"] = sum(r["synth_seconds"] for r in synth) / audio if synth and audio > 0 else None
        row["audio_seconds"] = _mean(r["audio_seconds"] for r in ok)
        row["seconds_per_item"] = _mean(r["seconds"] for r in ok)
        rows.append(row)
    return rows


def write_reports(out: Path, settings, configs, scorer) -> Dict[str, Any]:
    ids = [it.id for it in settings.items]
    labels = [c.label for c in configs]
    journal = read_journal(out)
    records = [journal[(label, i)] for label in labels for i in ids if (label, i) in journal]
    rows = summarize(records, labels)
    failed = [{"config": r["config"], "id": r["id"], "error": r["error"]} for r in records if r.get("error")]
    summary = {
        "run": settings.run_info(), "asr": scorer.asr.name, "speaker": scorer.speaker.name,
        "items": len(ids), "configs": rows, "failed": failed,
    }
    write_text_atomically(out / SUMMARY_JSON, json.dumps(summary, indent=1, allow_nan=False) + "\n")
    write_text_atomically(out / SUMMARY_MD, markdown(summary))
    plot(rows, out)
    return summary


def markdown(summary: Dict[str, Any]) -> str:
    lines = [
        "| config | items | failed | WER % | CER % | SIM | RTF | s/item |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in summary["configs"]:
        lines.append(
            f"| {r['config']} | {r['items']} | {r['failed']} | {_pct(r['wer'])} | {_pct(r['cer'])} | "
            f"{_num(r['sim'], 3)} | {_num(r['rtf'], 3)} | {_num(r['seconds_per_item'], 1)} |"
        )
    run = summary["run"]
    source = f"model {run['model']}" if run["model"] else f"audio from {run['audio_dir']}"
    lines += ["", f"{summary['items']} items; {source}; ASR {summary['asr']}; speaker embeddings {summary['speaker']}.",
              "WER/CER: errors over reference words/characters summed over the items, after normalisation; "
              "SIM: mean cosine similarity of prompt and output; RTF: synthesis seconds per second of audio."]
    if summary["failed"]:
        lines += ["", "Failed items:", ""]
        lines += [f"- {f['config']} {f['id']}: {f['error']}" for f in summary["failed"]]
    return "\n".join(lines) + "\n"


def plot(rows: List[Dict[str, Any]], out: Path) -> None:
    """wer_sim.png: WER and SIM per config; rtf.png: RTF per config (only when something was synthesized)."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed, and none is touched
    import matplotlib.pyplot as plt

    labels = [r["config"] for r in rows]
    fig, (ax_wer, ax_sim) = plt.subplots(1, 2, figsize=(max(6.0, 1.6 * len(rows) + 3), 3.6))
    _bars(ax_wer, labels, [_or0(r["wer"]) * 100 for r in rows], "WER %", "{:.1f}")
    _bars(ax_sim, labels, [_or0(r["sim"]) for r in rows], "SIM (cosine)", "{:.3f}")
    ax_sim.set_ylim(0, 1)
    fig.tight_layout()
    _atomic(out / PLOT_QUALITY, lambda tmp: fig.savefig(tmp, format="png", dpi=120))
    plt.close(fig)
    if any(r["rtf"] is not None for r in rows):
        fig, ax = plt.subplots(figsize=(max(4.0, 1.2 * len(rows) + 2), 3.4))
        _bars(ax, labels, [_or0(r["rtf"]) for r in rows], "RTF (lower is faster)", "{:.3f}")
        fig.tight_layout()
        _atomic(out / PLOT_SPEED, lambda tmp: fig.savefig(tmp, format="png", dpi=120))
        plt.close(fig)


def _bars(ax, labels: List[str], values: List[float], title: str, fmt: str) -> None:
    bars = ax.bar(range(len(values)), values, color="#4c72b0")
    ax.set_xticks(range(len(values)), labels, rotation=30 if len(labels) > 4 else 0)
    ax.set_title(title)
    for bar, value in zip(bars, values, strict=True):
        ax.annotate(fmt.format(value), (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center", va="bottom", fontsize=8)


def _mean(values) -> Optional[float]:
    values = [float(v) for v in values if v is not None]
    return sum(values) / len(values) if values else None


def _or0(value: Optional[float]) -> float:
    return 0.0 if value is None else float(value)


def _pct(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}"


def _num(value: Optional[float], digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"

