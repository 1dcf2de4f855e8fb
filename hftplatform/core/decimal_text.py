"""A :class:`~decimal.Decimal` as plain text: positional digits, never an exponent (``str`` writes 0.00000001 as
``1E-8``). Two behaviours, one function each, named for what they do with trailing zeros."""

from __future__ import annotations

from decimal import Decimal


def decimal_text_keep_scale(value: Decimal) -> str:
    """Positional text with the value's scale kept, as stored or sent by a venue: ``Decimal("1E-5")`` →
    ``"0.00001"``, ``Decimal("0.01000000")`` → ``"0.01000000"``, ``Decimal("4.00")`` → ``"4.00"``."""
    return format(value, "f")


def decimal_text_trim_zeros(value: Decimal) -> str:
    """Positional text without trailing zeros or a bare point, zero as ``"0"``: ``Decimal("1.18800")`` →
    ``"1.188"``, ``Decimal("1E+4")`` → ``"10000"``, ``Decimal("0E-50")`` → ``"0"``."""
    if value == 0:
        return "0"
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def decimal_scale(text: str) -> int:
    """Digits after the decimal point of exact decimal text: ``'0.0100'`` → 4, ``'5E+2'`` → 0."""
    exponent = Decimal(text).as_tuple().exponent
    if not isinstance(exponent, int):
        raise ValueError(f"{text!r} is not a finite decimal")
    return max(0, -exponent)


def decimal_step(scale: int) -> str:
    """The smallest step of ``scale`` decimal places as plain text: 0 → ``'1'``, 2 → ``'0.01'``."""
    return "1" if scale <= 0 else "0." + "0" * (scale - 1) + "1"
