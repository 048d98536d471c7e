"""English text normalisation: abbreviations, currency, fractions, decimals, percentages, ordinals, numbers.

The rules and their order reproduce the front end the Emilia models were trained with, so that the
spoken form of a number matches the training data (e.g. 1999 -> "nineteen ninety-nine", $12.50 ->
"12 dollars, 50 cents"). Times such as 3:45 are left to espeak-ng on purpose: the reference reads them as
"three : forty-five".
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import inflect

# Longer forms first where one is a prefix of another ("mrs" before "mr").
_ABBREVIATIONS: tuple[tuple[str, str], ...] = (
    ("mrs", "misess"),
    ("mr", "mister"),
    ("dr", "doctor"),
    ("st", "saint"),
    ("co", "company"),
    ("jr", "junior"),
    ("maj", "major"),
    ("gen", "general"),
    ("drs", "doctors"),
    ("rev", "reverend"),
    ("lt", "lieutenant"),
    ("hon", "honorable"),
    ("sgt", "sergeant"),
    ("capt", "captain"),
    ("esq", "esquire"),
    ("ltd", "limited"),
    ("col", "colonel"),
    ("ft", "fort"),
    ("etc", "et cetera"),
    ("btw", "by the way"),
)
_ABBREVIATION_RES = tuple((re.compile(rf"\b{short}\b", re.IGNORECASE), long) for short, long in _ABBREVIATIONS)

_GROUPED_NUMBER = re.compile(r"([0-9][0-9,]+[0-9])")
_POUNDS = re.compile(r"£([0-9,]*[0-9]+)")
_DOLLARS = re.compile(r"\$([0-9.,]*[0-9]+)")
_FRACTION = re.compile(r"([0-9]+)/([0-9]+)")
_DECIMAL = re.compile(r"([0-9]+\.[0-9]+)")
_PERCENT = re.compile(r"([0-9.,]*[0-9]+%)")
_ORDINAL = re.compile(r"[0-9]+(st|nd|rd|th)")
_NUMBER = re.compile(r"[0-9]+")

# Longer digit runs are read digit by digit: inflect has no names for them, and int() refuses very long
# strings.
_MAX_DIGITS = 36
_DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


@functools.cache
def _engine() -> inflect.engine:
    import inflect

    return inflect.engine()


def normalize_english(text: str) -> str:
    """Expand abbreviations and write numbers out as words (input and output are plain strings)."""
    return normalize_numbers(expand_abbreviations(text))


def expand_abbreviations(text: str) -> str:
    """'Mr.' -> 'mister.', 'St.' -> 'saint.' (whole words, any case)."""
    for pattern, replacement in _ABBREVIATION_RES:
        text = pattern.sub(replacement, text)
    return text


def normalize_numbers(text: str) -> str:
    """Rewrite currency, fractions, decimals, percentages, ordinals and integers as words."""
    text = _GROUPED_NUMBER.sub(lambda m: m.group(1).replace(",", ""), text)
    text = _POUNDS.sub(r"\1 pounds", text)
    text = _DOLLARS.sub(_dollars, text)
    text = _FRACTION.sub(_fraction, text)
    text = _DECIMAL.sub(lambda m: m.group(1).replace(".", " point "), text)
    text = _PERCENT.sub(lambda m: m.group(1).replace("%", " percent "), text)
    text = _ORDINAL.sub(_ordinal, text)
    return _NUMBER.sub(_cardinal, text)


def _dollars(match: re.Match[str]) -> str:
    amount = match.group(1)
    parts = amount.split(".")
    if len(parts) > 2 or len(amount) > _MAX_DIGITS:
        return f" {amount} dollars "
    # Stray commas ("$,5") would make int() fail; they carry no value.
    dollars = _to_int(parts[0])
    cents = _to_int(parts[1]) if len(parts) > 1 else 0
    if dollars and cents:
        return f" {dollars} {_plural(dollars, 'dollar')}, {cents} {_plural(cents, 'cent')} "
    if dollars:
        return f" {dollars} {_plural(dollars, 'dollar')} "
    if cents:
        return f" {cents} {_plural(cents, 'cent')} "
    return " zero dollars "


def _to_int(digits: str) -> int:
    digits = digits.replace(",", "")
    return int(digits) if digits else 0


def _plural(count: int, unit: str) -> str:
    return unit if count == 1 else unit + "s"


def _fraction(match: re.Match[str]) -> str:
    if len(match.group(0)) > _MAX_DIGITS:
        return match.group(0)
    numerator, denominator = int(match.group(1)), int(match.group(2))
    if (numerator, denominator) == (1, 2):
        return " one half "
    if (numerator, denominator) == (1, 4):
        return " one quarter "
    top = _words(numerator)
    if denominator == 2:
        return f" {top} halves "
    if denominator == 4:
        return f" {top} quarters "
    return f" {top} {_ordinal_words(denominator)} "


def _ordinal(match: re.Match[str]) -> str:
    if len(match.group(0)) > _MAX_DIGITS:
        return " " + _spell_digits(match.group(0)) + " "
    try:
        return " " + _engine().number_to_words(match.group(0)) + " "
    except Exception:
        # inflect gives up beyond its largest named power of ten; read the digits instead.
        return " " + _spell_digits(match.group(0)) + " "


def _cardinal(match: re.Match[str]) -> str:
    if len(match.group(0)) > _MAX_DIGITS:
        return " " + _spell_digits(match.group(0)) + " "
    number = int(match.group(0))
    if 1000 < number < 3000:
        return " " + _year_like(number) + " "
    return " " + _words(number, andword="") + " "


def _year_like(number: int) -> str:
    """Four-digit numbers between 1000 and 3000 are read the way years are."""
    if number == 2000:
        return "two thousand"
    if 2000 < number < 2010:
        return "two thousand " + _words(number % 100)
    if number % 100 == 0:
        return _words(number // 100) + " hundred"
    return _engine().number_to_words(number, andword="", zero="oh", group=2).replace(", ", " ")


def _words(number: int, **options: str) -> str:
    try:
        return _engine().number_to_words(number, **options)
    except Exception:
        return _spell_digits(str(number))


def _ordinal_words(number: int) -> str:
    try:
        return _engine().ordinal(_engine().number_to_words(number))
    except Exception:
        return _spell_digits(str(number))


def _spell_digits(digits: str) -> str:
    return " ".join(_DIGIT_WORDS[int(d)] for d in digits if d.isdigit() and d.isascii())
