"""Text front end: normalisation, grapheme-to-phoneme, token ids and sentence splitting (no torch here)."""

from luxtts.text.normalize_en import normalize_english
from luxtts.text.normalize_zh import normalize_chinese
from luxtts.text.split import chunk_tokens, split_sentences
from luxtts.text.tokenizer import EmiliaTokenizer, EspeakTokenizer
from luxtts.text.vocab import load_vocab

__all__ = [
    "EmiliaTokenizer",
    "EspeakTokenizer",
    "chunk_tokens",
    "load_vocab",
    "normalize_chinese",
    "normalize_english",
    "split_sentences",
]
