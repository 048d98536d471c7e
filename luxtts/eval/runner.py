"""The evaluation loop: for each setting and item, synthesize (or read a given wav), transcribe, score.

Results go one JSON line per (config, item) to ``items.jsonl`` as they are made, so a run that stops can
resume: a pair already scored without error is skipped; a failed one is tried again. A bad item (missing
prompt, unreadable audio, no words heard...) gets a record with its error and the run goes on.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Tuple

import numpy as np

from ..errors import InvalidOptionError
from .items import EvalItem
from .journal import JOURNAL, append_record, read_journal

logger = logging.getLogger("luxtts")

RUN_FILE = "run.json"
SAMPLE_RATE = 16000
# name -> (dtype, quantize) as LuxTTS.from_pretrained takes them.
VARIANTS: Dict[str, Tuple[Optional[str], Optional[str]]] = {
    "fp32": (None, None),
    "int8": (None, "int8"),
    "bf16": ("bfloat16", None),
    "fp16": ("float16", None),
}
# The settings of a run that make earlier results in the same folder comparable.
_RUN_KEYS = ("model", "audio_dir", "asr", "asr_model", "speaker", "seed", "prompt_duration")


@dataclass(frozen=True)
class Config:
    """One synthesis setting: a precision variant and a step count (None: the model's default)."""

    variant: str
    steps: Optional[int] = None

    @property
    def label(self) -> str:
        return self.variant if self.steps is None else f"{self.variant}-s{self.steps}"


@dataclass
class Settings:
    items: List[EvalItem]
    out_dir: Path
    model: Optional[str] = None
    configs: List[Config] = field(default_factory=lambda: [Config("fp32")])
    audio_dir: Optional[Path] = None
    asr: Optional[str] = None
    asr_model: Optional[str] = None
    speaker: Optional[str] = None
    device: str = "auto"
    threads: Optional[int] = None
    seed: int = 0
    prompt_duration: Optional[float] = None
    progress: bool = True

    def run_info(self) -> Dict[str, Any]:
        return {
            "model": self.model, "audio_dir": str(self.audio_dir) if self.audio_dir else None,
            "asr": self.asr or "auto",
            "asr_model": self.asr_model, "speaker": self.speaker or "resemblyzer", "seed": self.seed,
            "prompt_duration": self.prompt_duration,
        }


def parse_configs(variants: str, steps: Optional[str]) -> List[Config]:
    """'fp32,int8' and '4,8' -> every (variant, steps) pair, variants outermost."""
    names = [v.strip() for v in variants.split(",") if v.strip()]
    if not names:
        raise InvalidOptionError(f"--variants is empty; accepted: {', '.join(VARIANTS)}")
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        raise InvalidOptionError(
            f"--variants: unknown {', '.join(map(repr, unknown))}; accepted: {', '.join(VARIANTS)}"
        )
    counts: List[Optional[int]] = [None]
    if steps:
        try:
            counts = [int(s) for s in steps.split(",") if s.strip()]
        except ValueError:
            raise InvalidOptionError(f"--steps must be comma-separated integers, got {steps!r}") from None
        if not counts or any(c < 1 for c in counts):
            raise InvalidOptionError(f"--steps must be integers >= 1, got {steps!r}")
    configs = [Config(v, s) for v in dict.fromkeys(names) for s in dict.fromkeys(counts)]
    return configs


# ------------------------------------------------------------------------------------------ the run file


def _check_run(out_dir: Path, info: Dict[str, Any]) -> None:
    path = out_dir / RUN_FILE
    if path.is_file() and (out_dir / JOURNAL).is_file():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            old = {}
        changed = [k for k in _RUN_KEYS if old.get(k) != info.get(k)]
        if changed:
            details = ", ".join(f"{k}: {old.get(k)!r} -> {info.get(k)!r}" for k in changed)
            raise InvalidOptionError(
                f"-o {out_dir} holds results of a run with other settings ({details}); its results would not be "
                "comparable. Use another output folder, or delete its items.jsonl to start again"
            )
    from ..fileio import write_text_atomically

    write_text_atomically(path, json.dumps(info, indent=1) + "\n")


# ---------------------------------------------------------------------------------------------- the run


def run_eval(settings: Settings) -> Dict[str, Any]:
    """Evaluate every (config, item) not yet done; write the journal, summary and plots; return the summary."""
    from tqdm import tqdm

    from ..asr import load_recognizer
    from ..devices import resolve_device
    from .report import write_reports
    from .speaker import load_speaker_encoder

    device = str(resolve_device(settings.device))
    scorer = _Scorer(load_recognizer(settings.asr, device, settings.asr_model),
                     load_speaker_encoder(settings.speaker, "cpu"), settings.prompt_duration)
    logger.info("eval: speech recognition %s, speaker embeddings %s", scorer.asr.name, scorer.speaker.name)
    out = settings.out_dir
    out.mkdir(parents=True, exist_ok=True)
    configs = [Config("audio")] if settings.audio_dir else settings.configs
    # What actually ran is what makes results comparable ("auto" may mean Whisper on one day, pocketsphinx on another).
    _check_run(out, {**settings.run_info(), "asr": scorer.asr.name, "speaker": scorer.speaker.name})
    # A record counts as done only for the same target text: an edited list item is evaluated again.
    done = {(k, r.get("target_text")) for k, r in read_journal(out).items() if not r.get("error")}
    todo = [(c, it) for c in configs for it in settings.items if ((c.label, it.id), it.target_text) not in done]

    total = len(configs) * len(settings.items)
    with tqdm(total=total, initial=total - len(todo), desc="eval", unit="item",
              disable=None if settings.progress else True) as bar:
        for config in configs:
            pending = [it for c, it in todo if c == config]
            if not pending:
                continue
            for record in _evaluate_config(settings, config, pending, scorer):
                append_record(out, record)
                if record.get("error"):
                    bar.write(f"eval: {config.label} {record['id']}: {record['error']}")
                bar.update(1)
    return write_reports(out, settings, configs, scorer)


class _Scorer:
    """Transcribes and scores one output against its item; caches the prompts' embeddings and texts."""

    def __init__(self, asr, speaker, prompt_duration: Optional[float]) -> None:
        self.asr = asr
        self.speaker = speaker
        self.prompt_duration = prompt_duration
        self._prompt_embedding: Dict[str, np.ndarray] = {}
        self._prompt_text: Dict[str, str] = {}

    def prompt_16k(self, item: EvalItem) -> np.ndarray:
        from ..audio import load_audio

        return load_audio(str(item.prompt_wav), SAMPLE_RATE, self.prompt_duration).samples.numpy()

    def prompt_text(self, item: EvalItem) -> Tuple[str, bool]:
        """The item's prompt transcript, or what ASR hears in the prompt when it has none (text, by_asr)."""
        if item.prompt_text:
            return item.prompt_text, False
        if item.id not in self._prompt_text:
            self._prompt_text[item.id] = self.asr(self.prompt_16k(item))
            if not self._prompt_text[item.id]:
                raise InvalidOptionError(f"no prompt_text, and {self.asr.name} heard no words in {item.prompt_wav}")
        return self._prompt_text[item.id], True

    def score(self, item: EvalItem, wav16k: np.ndarray) -> Dict[str, Any]:
        from .metrics import error_counts

        t0 = time.perf_counter()
        heard = self.asr(wav16k)
        counts = error_counts(item.target_text, heard)
        t1 = time.perf_counter()
        if item.id not in self._prompt_embedding:
            self._prompt_embedding[item.id] = self.speaker.embed(self.prompt_16k(item))
        from .speaker import cosine

        sim = cosine(self._prompt_embedding[item.id], self.speaker.embed(wav16k))
        return {"asr_text": heard, **counts.as_dict(), "sim": sim, "asr_seconds": t1 - t0,
                "sim_seconds": time.perf_counter() - t1}


def _evaluate_config(settings: Settings, config: Config, items: List[EvalItem],
                     scorer: _Scorer) -> Iterable[Dict[str, Any]]:
    if settings.audio_dir:
        for item in items:
            yield _guarded(config, item, lambda it: _score_file(settings.audio_dir, it, scorer))
        return
    try:
        tts = _load_model(settings, config)
    except Exception as e:  # a variant this machine cannot run (int8 on a GPU, ...) fails its items, not the run
        reason = f"model could not be loaded for {config.label}: {_describe(e)}"
        logger.warning("eval: %s", reason)
        for item in items:
            yield _record(config, item, error=reason)
        return
    _warm_up(tts, config, settings, items[0], scorer)
    audio_dir = settings.out_dir / "audio" / config.label
    audio_dir.mkdir(parents=True, exist_ok=True)
    for item in items:
        yield _guarded(config, item, lambda it: _synthesize_and_score(tts, config, settings, it, audio_dir, scorer))


def _load_model(settings: Settings, config: Config):
    from ..pipeline import LuxTTS

    dtype, quantize = VARIANTS[config.variant]
    device = settings.device if quantize is None or settings.device != "auto" else "cpu"
    return LuxTTS.from_pretrained(settings.model, device=device, dtype=dtype, threads=settings.threads,
                                  quantize=quantize)


def _warm_up(tts, config: Config, settings: Settings, item: EvalItem, scorer: _Scorer) -> None:
    """One untimed short generation, so that one-time costs (kernel selection, allocations) stay out of RTF."""
    try:
        prompt_text, _ = scorer.prompt_text(item)
        prompt = tts.encode_prompt(str(item.prompt_wav), duration=settings.prompt_duration, text=prompt_text)
        tts.generate("A short warm up.", prompt, num_steps=config.steps, seed=settings.seed)
    except Exception as e:  # the item itself will fail and say why
        logger.debug("eval: warm-up for %s failed: %s", config.label, _describe(e))


def _synthesize_and_score(tts, config: Config, settings: Settings, item: EvalItem, audio_dir: Path,
                          scorer: _Scorer) -> Dict[str, Any]:
    from ..audio import write_audio
    from ..audio.resample import resample_numpy

    prompt_text, by_asr = scorer.prompt_text(item)
    prompt = tts.encode_prompt(str(item.prompt_wav), duration=settings.prompt_duration, text=prompt_text)
    result = tts.generate(item.target_text, prompt, num_steps=config.steps, seed=settings.seed)
    wav = result.audio.numpy()
    path = audio_dir / f"{item.id}.wav"
    write_audio(path, wav, result.sample_rate)
    scores = scorer.score(item, resample_numpy(wav.astype(np.float32), result.sample_rate, SAMPLE_RATE))
    return {"wav": str(path), "prompt_text_by_asr": prompt_text if by_asr else None,
            "audio_seconds": result.duration, "synth_seconds": result.timings.get("total", 0.0),
            "rtf": result.rtf, **scores}


def _score_file(audio_dir: Path, item: EvalItem, scorer: _Scorer) -> Dict[str, Any]:
    from ..audio import load_audio

    path = audio_dir / f"{item.id}.wav"
    loaded = load_audio(str(path), SAMPLE_RATE)
    return {"wav": str(path), "audio_seconds": loaded.seconds, **scorer.score(item, loaded.samples.numpy())}


def _guarded(config: Config, item: EvalItem, work) -> Dict[str, Any]:
    t0 = time.perf_counter()
    try:
        fields = work(item)
    except Exception as e:
        return _record(config, item, error=_describe(e), seconds=time.perf_counter() - t0)
    return _record(config, item, seconds=time.perf_counter() - t0, **fields)


def _record(config: Config, item: EvalItem, **fields: Any) -> Dict[str, Any]:
    return {"config": config.label, "variant": config.variant, "steps": config.steps, "id": item.id,
            "target_text": item.target_text, "error": None, **fields}


def _describe(e: BaseException) -> str:
    return f"{type(e).__name__}: {' '.join(str(e).split())[:400]}"
