"""The forms the public API accepts for text and numbers, checked without torch.

Integer-like values are accepted the same way everywhere: Python and numpy integers; where a sample rate is
meant, also floats with an integral value (``24000.0``), since audio libraries hand rates back as floats.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Iterable, Optional, Tuple, Union

from .errors import EmptyTextError, InvalidOptionError, TextTypeError, brief


@dataclass(frozen=True, init=False)
class Tokens:
    """Token ids to speak as given, in one pass, bypassing the text front end: ``tts.generate(Tokens(ids), v)``.

    ids: integers from the model's token table (``tts.tokenizer.encode(text)`` gives them). A plain list is not
    taken as text, so that bytes or a decoded JSON array are never spoken by accident.
    """

    ids: Tuple[int, ...]

    def __init__(self, ids: Iterable[int]) -> None:
        if isinstance(ids, (str, bytes, bytearray, memoryview)) or not isinstance(ids, Iterable):
            raise InvalidOptionError(f"Tokens takes a sequence of integer token ids, got {brief(ids)}")
        values = []
        for i in ids:
            if not is_integer(i):
                raise InvalidOptionError(f"Tokens: every token id must be an integer, got {brief(i)}")
            values.append(int(i))
        if not values:
            raise EmptyTextError("Tokens: the token id list is empty; give at least one token to speak")
        object.__setattr__(self, "ids", tuple(values))

    def __len__(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:
        head = ", ".join(map(str, self.ids[:8]))
        return f"Tokens([{head}{', ...' if len(self.ids) > 8 else ''}], n={len(self.ids)})"


TextInput = Union[str, Tokens]


def check_text(text: object, name: str = "text") -> TextInput:
    """``text`` if it is a ``str`` or :class:`Tokens`; a TextTypeError naming what is accepted otherwise."""
    if isinstance(text, (str, Tokens)):
        return text
    if isinstance(text, (bytes, bytearray, memoryview)):
        raise TextTypeError(f"{name} is bytes ({brief(text)}): decode it first, e.g. {name}.decode('utf-8')")
    hint = " (wrap token ids as luxtts.Tokens(ids))" if isinstance(text, (list, tuple)) else ""
    raise TextTypeError(f"{name} must be a str or luxtts.Tokens, got {type(text).__name__}{hint}")


def is_integer(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and type(value).__name__ != "bool_"


def as_int(name: str, value: object, low: int, high: Optional[int] = None, *, none_ok: bool = False) -> Optional[int]:
    """``value`` as an int in [low, high] (a Python or numpy integer), or an InvalidOptionError naming ``name``."""
    if value is None and none_ok:
        return None
    ok = is_integer(value) and int(value) >= low and (high is None or int(value) <= high)
    if not ok:
        span = f"from {low} to {high}" if high is not None else f">= {low}"
        raise InvalidOptionError(f"{name} must be an integer {span}, got {brief(value)}")
    return int(value)


def as_rate(name: str, value: object, low: int = 1, high: int = 768000) -> int:
    """A sample rate in Hz: an integer, or a float with an integral value, within [low, high]."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool) and type(value).__name__ != "bool_":
        number = float(value)
        if math.isfinite(number) and number.is_integer() and low <= number <= high:
            return int(number)
    raise InvalidOptionError(f"{name} must be a whole number of Hz from {low} to {high}, got {brief(value)}")


def as_float(name: str, value: object, minimum: float, strict: bool, *, none_ok: bool = False) -> Optional[float]:
    """A finite real number above ``minimum`` (``strict``) or at least it, as a float."""
    if value is None and none_ok:
        return None
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and type(value).__name__ != "bool_"
    number = float(value) if ok else math.nan
    if not (math.isfinite(number) and (number > minimum if strict else number >= minimum)):
        bound = f"> {minimum:g}" if strict else f">= {minimum:g}"
        raise InvalidOptionError(f"{name} must be a finite number {bound}, got {brief(value)}")
    return number


def as_flag(name: str, value: object) -> bool:
    """True/False (numpy bools and the integers 0 and 1 too)."""
    if isinstance(value, bool) or type(value).__name__ == "bool_" or (is_integer(value) and int(value) in (0, 1)):
        return bool(value)
    raise InvalidOptionError(f"{name} must be True or False, got {brief(value)}")
