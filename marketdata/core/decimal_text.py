"""Decimal text as the platform stores it: plain digits, never an exponent, never a binary float in between.

Venues that send JSON numbers (Coinbase Exchange) can write ``1e-05``; PostgreSQL NUMERIC and the CSV export want
``0.00001``. Sums of the venue's decimals are exact (an :class:`decimal.Inexact` result raises instead of rounding).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from decimal import Context, Decimal, Inexact, InvalidOperation

from hftplatform.core.decimal_text import decimal_text_keep_scale

# Wide enough for any sum of exchange quantities; Inexact is trapped so an overflowing sum raises, never rounds.
EXACT = Context(prec=200, traps=[Inexact, InvalidOperation])
# Decimal() itself also takes " 1", "1_000", "NaN" and "Infinity"; a venue's number is none of those.
_NUMBER_PATTERN = r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_NUMBER = re.compile(_NUMBER_PATTERN)
# Five numbers joined by newlines (which no number contains): one match checks a whole OHLCV row.
_FIVE_NUMBERS = re.compile("\n".join([_NUMBER_PATTERN] * 5))


class DecimalTextError(ValueError):
    """Text that is not a finite decimal number."""


def is_decimal_text(text: object) -> bool:
    """True for a plain or exponent decimal number written as text (no sign but ``-``, no spaces, finite)."""
    return isinstance(text, str) and _NUMBER.fullmatch(text) is not None


def are_decimal_texts(texts: Sequence[object]) -> bool:
    """True when all five of ``texts`` are decimal number text (one regex match: the hot path of a kline page)."""
    strings = [text for text in texts if type(text) is str]
    if len(strings) != 5 or len(texts) != 5:
        return False
    return _FIVE_NUMBERS.fullmatch("\n".join(strings)) is not None


def decimal_parse(text: str) -> Decimal:
    """``text`` as a finite :class:`Decimal`; raises :class:`DecimalTextError` otherwise."""
    if not is_decimal_text(text):
        raise DecimalTextError(f"not a decimal number: {text!r}")
    return Decimal(text)


def decimal_text_plain(text: str) -> str:
    """The same number as plain text: exponent forms (``1e-05``, ``1.5E+3``) are rewritten, anything else is kept
    verbatim, so a venue's ``"0.01000000"`` stays ``"0.01000000"``."""
    value = decimal_parse(text)
    if "e" in text or "E" in text:
        return decimal_text_keep_scale(value)
    return text


def decimal_sum(values: Iterable[Decimal]) -> Decimal:
    """The exact sum (``Decimal("0")`` for none); raises :class:`decimal.Inexact` rather than round."""
    total = Decimal(0)
    for value in values:
        total = EXACT.add(total, value)
    return total
