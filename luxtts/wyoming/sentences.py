"""Text that arrives in pieces (``synthesize-chunk``) -> whole sentences, spoken as soon as each is complete."""

from __future__ import annotations

from ..text.split import sentence_ends

# A client that never ends a sentence would otherwise make the server hold (and later speak) any amount at once.
MAX_PENDING = 4096


class SentenceBuffer:
    """add(piece) returns the sentences completed so far (possibly ""), finish() what is left.

    A sentence counts as complete only once something follows its end mark: "3." may still become "3.5".
    """

    def __init__(self) -> None:
        self._text = ""

    def add(self, piece: str) -> str:
        self._text += piece
        ends = [end for end in sentence_ends(self._text) if end < len(self._text)]
        if not ends and len(self._text) > MAX_PENDING:
            cut = self._text.rfind(" ", 0, MAX_PENDING)
            ends = [cut if cut > 0 else MAX_PENDING]
        if not ends:
            return ""
        done, self._text = self._text[: ends[-1]], self._text[ends[-1]:]
        return done.strip()

    def finish(self) -> str:
        rest, self._text = self._text.strip(), ""
        return rest
