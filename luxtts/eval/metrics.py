"""Word and character error counts (jiwer's alignment) of one hypothesis, and their sums over a list.

WER = (substitutions + deletions + insertions) / reference words, after :func:`normalize_for_wer` on both
sides; CER the same over characters of the normalised strings (spaces included). A list's WER is the sum of
its items' errors over the sum of their reference words (each word weighs the same), as in Seed-TTS-eval.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Dict, Iterable, Optional

from ..errors import EmptyTextError
from .textnorm import normalize_for_wer


@dataclass(frozen=True)
class ErrorCounts:
    """Edit counts of one hypothesis against its reference, in words and in characters."""

    reference: str
    hypothesis: str
    word_errors: int
    ref_words: int
    char_errors: int
    ref_chars: int

    @property
    def wer(self) -> float:
        return self.word_errors / self.ref_words

    @property
    def cer(self) -> float:
        return self.char_errors / self.ref_chars

    def as_dict(self) -> Dict[str, object]:
        return {**asdict(self), "wer": self.wer, "cer": self.cer}


def error_counts(reference: str, hypothesis: str) -> ErrorCounts:
    """Counts for raw (un-normalised) texts; an empty reference after normalisation is an EmptyTextError."""
    import jiwer

    ref = normalize_for_wer(reference)
    hyp = normalize_for_wer(hypothesis)
    if not ref:
        raise EmptyTextError(f"the target text {reference[:60]!r} has no words to score after normalisation")
    words = jiwer.process_words(ref, hyp)
    chars = jiwer.process_characters(ref, hyp)
    return ErrorCounts(
        reference=ref, hypothesis=hyp,
        word_errors=words.substitutions + words.deletions + words.insertions,
        ref_words=words.substitutions + words.deletions + words.hits,
        char_errors=chars.substitutions + chars.deletions + chars.insertions,
        ref_chars=chars.substitutions + chars.deletions + chars.hits,
    )


def corpus_rates(rows: Iterable[Dict[str, object]]) -> Dict[str, Optional[float]]:
    """{'wer', 'cer'} summed over rows holding word_errors/ref_words/char_errors/ref_chars (None: no rows)."""
    sums = {"word_errors": 0, "ref_words": 0, "char_errors": 0, "ref_chars": 0}
    for row in rows:
        for key in sums:
            sums[key] += int(row[key])  # type: ignore[call-overload]
    return {
        "wer": sums["word_errors"] / sums["ref_words"] if sums["ref_words"] else None,
        "cer": sums["char_errors"] / sums["ref_chars"] if sums["ref_chars"] else None,
    }
