"""``luxtts train prepare``: recordings + transcripts -> feature shards (safetensors) and an index.

Inputs: a JSONL manifest (one ``{"audio", "text", "speaker"?, "language"?}`` per line, audio paths relative to
the manifest), a folder of ``x.wav`` + ``x.txt`` pairs, or an LJSpeech-style ``metadata.csv`` (``id|text[|normalized]``
with the audio in ``wavs/id.wav``). Features are the inference front end's (:func:`luxtts.audio.features.prompt_features`
on audio loaded by :func:`luxtts.audio.io.load_audio`), unscaled log-mel (T, 100) float32. Transcripts are kept
as token STRINGS, so that a model whose tokens.txt grows (a new language) maps them to ids at training time.

Output folder: ``shard-00000.safetensors`` ... (one tensor per utterance), ``index.jsonl`` (one line per
utterance: id, shard, key, frames, seconds, tokens, text, speaker, language, split), ``report.json`` (the skipped
rows and why), ``meta.json``. Written to a temporary folder renamed into place at the end.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence

from ..errors import InvalidOptionError, LuxTTSError
from ..fileio import replaced_atomically

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")
EMILIA_LANGS = ("en", "zh", "en-us", "emilia")
INDEX = "index.jsonl"
REPORT = "report.json"
META = "meta.json"


class DatasetError(LuxTTSError, ValueError):
    """A training data source or prepared folder is missing, malformed, or has no usable rows."""


@dataclass
class Row:
    """One utterance as listed by the data source (not yet checked)."""

    id: str
    audio: str
    text: str
    speaker: str = ""
    language: str = ""


@dataclass
class PrepareOptions:
    lang: str = "en"  # en/zh: the Emilia tokenizer inference uses; anything else: espeak-ng phonemes for that voice
    tokens: Optional[str] = None  # tokens.txt of the model to be trained (only used to warn about unknown tokens)
    min_seconds: float = 0.5
    max_seconds: float = 30.0
    shard_utterances: int = 256
    valid_count: int = 0  # utterances held out for validation (chosen by a hash of their id: stable)
    overwrite: bool = False
    progress: bool = True


@dataclass
class PrepareReport:
    kept: int = 0
    valid: int = 0
    frames: int = 0
    skipped: List[Dict[str, str]] = field(default_factory=list)
    unknown_tokens: Dict[str, int] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------- sources

def read_rows(data: os.PathLike) -> List[Row]:
    """List the utterances of a JSONL manifest, a folder of wav+txt pairs, or an LJSpeech metadata.csv."""
    path = Path(data)
    if path.is_dir() and (path / "metadata.csv").is_file():
        return _ljspeech_rows(path / "metadata.csv")
    if path.is_dir():
        return _folder_rows(path)
    if not path.is_file():
        raise DatasetError(f"data source not found: {path} (expected a .jsonl manifest, a folder or metadata.csv)")
    if path.name.endswith(".csv"):
        return _ljspeech_rows(path)
    if path.suffix in (".jsonl", ".json"):
        return _jsonl_rows(path)
    raise DatasetError(f"unknown data source {path}: give a .jsonl manifest, a folder of x.wav + x.txt, or metadata.csv")


def _jsonl_rows(path: Path) -> List[Row]:
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            audio, text = item["audio"], item["text"]
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            # A malformed line is a bad row, not a fatal error: keep it so the report lists it.
            rows.append(Row(f"{path.name}:{number}", "", "", "", f"!malformed line: {e!r}"))
            continue
        audio_path = Path(audio) if Path(audio).is_absolute() else path.parent / audio
        rows.append(Row(str(item.get("id", f"{path.stem}-{number:06d}")), str(audio_path), str(text),
                        str(item.get("speaker", "")), str(item.get("language", ""))))
    return rows


def _folder_rows(folder: Path) -> List[Row]:
    rows = []
    for audio in sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES):
        txt = audio.with_suffix(".txt")
        text = txt.read_text(encoding="utf-8").strip() if txt.is_file() else ""
        rows.append(Row(str(audio.relative_to(folder).with_suffix("")), str(audio), text))
    if not rows:
        raise DatasetError(f"no audio files ({', '.join(AUDIO_SUFFIXES)}) under {folder}")
    return rows


def _ljspeech_rows(csv_path: Path) -> List[Row]:
    rows = []
    with open(csv_path, encoding="utf-8", newline="") as fh:
        for fields in csv.reader(fh, delimiter="|", quoting=csv.QUOTE_NONE):
            if not fields or not fields[0].strip():
                continue
            text = fields[2] if len(fields) > 2 and fields[2].strip() else (fields[1] if len(fields) > 1 else "")
            rows.append(Row(fields[0], str(csv_path.parent / "wavs" / f"{fields[0]}.wav"), text))
    return rows


# ---------------------------------------------------------------------------------------------- prepare

def _tokenizer(opts: PrepareOptions):
    from ..text import EmiliaTokenizer, EspeakTokenizer

    vocab = opts.tokens if opts.tokens else {"_": 0}
    if opts.lang in EMILIA_LANGS:
        return EmiliaTokenizer(vocab)
    return EspeakTokenizer(vocab, opts.lang)


def _choose_valid(items: Sequence[dict], count: int) -> set:
    """``count`` ids chosen by a hash of the id: the same utterances stay held out when the set grows."""
    ranked = sorted(items, key=lambda d: hashlib.sha1(d["id"].encode("utf-8")).hexdigest())
    if count >= len(items) and count > 0:
        raise InvalidOptionError(f"valid_count {count} leaves no training utterance ({len(items)} usable)")
    return {d["id"] for d in ranked[:count]}


def prepare(data: os.PathLike, out: os.PathLike, opts: PrepareOptions = PrepareOptions()) -> PrepareReport:
    """Prepare ``data`` into ``out`` (see the module docstring). Bad rows are skipped and reported; raises
    DatasetError when nothing is left, InvalidOptionError for bad options or an existing ``out``."""
    import torch
    from safetensors.torch import save_file
    from tqdm import tqdm

    from ..audio.features import prompt_features
    from ..audio.io import load_audio

    out = Path(out)
    if opts.min_seconds <= 0 or opts.max_seconds <= opts.min_seconds:
        raise InvalidOptionError(f"need 0 < min_seconds < max_seconds, got {opts.min_seconds}, {opts.max_seconds}")
    if opts.shard_utterances < 1:
        raise InvalidOptionError(f"shard_utterances must be >= 1, got {opts.shard_utterances}")
    if out.exists() and not opts.overwrite:
        raise InvalidOptionError(f"output folder {out} exists; pass --overwrite to replace it")
    rows = read_rows(data)
    tokenizer = _tokenizer(opts)
    known = set(tokenizer.token_to_id) if opts.tokens else None
    report = PrepareReport()
    out.parent.mkdir(parents=True, exist_ok=True)
    with replaced_atomically(out, folder=True) as tmp:
        index, shard, shard_no = [], {}, 0

        def flush() -> None:
            nonlocal shard, shard_no
            if shard:
                save_file(shard, str(tmp / f"shard-{shard_no:05d}.safetensors"))
                shard, shard_no = {}, shard_no + 1

        for row in tqdm(rows, desc="prepare", unit="utt", disable=not opts.progress):
            reason = _check_row(row)
            if reason is None:
                try:
                    audio = load_audio(row.audio, 24000)
                except LuxTTSError as e:
                    reason = f"unreadable audio: {e}"
            if reason is None:
                seconds = audio.seconds
                if seconds < opts.min_seconds or seconds > opts.max_seconds:
                    reason = f"duration {seconds:.2f} s outside [{opts.min_seconds}, {opts.max_seconds}]"
            if reason is None:
                try:
                    tokens = tokenizer.text_to_tokens(row.text)
                except (LuxTTSError, ValueError, RuntimeError) as e:
                    reason = f"text not tokenizable: {e}"
                else:
                    if not tokens:
                        reason = "text gives no tokens"
            if reason is None:
                features = prompt_features(audio.samples).contiguous()
                if not bool(torch.isfinite(features).all()):
                    reason = "non-finite features"
            if reason is not None:
                report.skipped.append({"id": row.id, "audio": row.audio, "reason": reason})
                continue
            if known is not None:
                for tok in tokens:
                    if tok not in known:
                        report.unknown_tokens[tok] = report.unknown_tokens.get(tok, 0) + 1
            key = f"u{len(index):08d}"
            shard[key] = features
            index.append({"id": row.id, "shard": f"shard-{shard_no:05d}.safetensors", "key": key,
                          "frames": int(features.shape[0]), "seconds": round(seconds, 4), "tokens": tokens,
                          "text": row.text, "speaker": row.speaker, "language": row.language or opts.lang,
                          "split": "train"})
            report.kept += 1
            report.frames += int(features.shape[0])
            if len(shard) >= opts.shard_utterances:
                flush()
        flush()
        if not index:
            raise DatasetError(f"no usable rows in {data}: all {len(rows)} were skipped "
                               f"(first reasons: {[s['reason'] for s in report.skipped[:3]]})")
        valid_ids = _choose_valid(index, opts.valid_count)
        for item in index:
            if item["id"] in valid_ids:
                item["split"] = "valid"
        report.valid = len(valid_ids)
        with open(tmp / INDEX, "w", encoding="utf-8") as fh:
            for item in index:
                fh.write(json.dumps(item, ensure_ascii=False) + "\n")
        (tmp / REPORT).write_text(json.dumps(asdict(report), ensure_ascii=False, indent=1), encoding="utf-8")
        meta = {"format": "luxtts-train-shards/1", "sample_rate": 24000, "feature": "vocos-log-mel-100",
                "feature_scale_applied": False, "lang": opts.lang, "utterances": report.kept,
                "frames": report.frames, "source": str(data)}
        (tmp / META).write_text(json.dumps(meta, indent=1), encoding="utf-8")
    return report


def _check_row(row: Row) -> Optional[str]:
    if row.language.startswith("!"):
        return row.language[1:]
    if not row.text.strip():
        return "empty transcript"
    if not row.audio:
        return "no audio path"
    if not Path(row.audio).is_file():
        return f"audio file not found: {row.audio}"
    return None


# ---------------------------------------------------------------------------------------------- reading

@dataclass(frozen=True)
class Utterance:
    id: str
    shard: str
    key: str
    frames: int
    tokens: tuple
    split: str


class PreparedSet:
    """A prepared folder: the index in memory, features read from the shards on demand (memory-mapped)."""

    def __init__(self, folder: os.PathLike) -> None:
        self.folder = Path(folder)
        index = self.folder / INDEX
        if not index.is_file():
            raise DatasetError(f"{self.folder} is not a prepared data folder (no {INDEX}); run `luxtts train prepare`")
        self.utterances: List[Utterance] = []
        for line in index.read_text(encoding="utf-8").splitlines():
            d = json.loads(line)
            self.utterances.append(Utterance(d["id"], d["shard"], d["key"], int(d["frames"]), tuple(d["tokens"]),
                                             d.get("split", "train")))
        self._open: Dict[str, object] = {}

    def split(self, name: str) -> List[int]:
        """Indices of the utterances in split ``name`` ("train" or "valid")."""
        return [i for i, u in enumerate(self.utterances) if u.split == name]

    def features(self, i: int):
        """Unscaled log-mel (T, 100) float32 of utterance i."""
        from safetensors import safe_open

        u = self.utterances[i]
        handle = self._open.get(u.shard)
        if handle is None:
            handle = safe_open(str(self.folder / u.shard), framework="pt")
            self._open[u.shard] = handle
        return handle.get_tensor(u.key)

    def token_strings(self) -> List[str]:
        """Every distinct token string in the set, in order of first appearance."""
        return list(dict.fromkeys(t for u in self.utterances for t in u.tokens))


def iter_index(folder: os.PathLike) -> Iterator[dict]:
    for line in (Path(folder) / INDEX).read_text(encoding="utf-8").splitlines():
        yield json.loads(line)
