"""Decimal text: the scale-keeping form and the trimmed form, exact vectors and round trips."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hftplatform.core.decimal_text import decimal_text_keep_scale, decimal_text_trim_zeros


@pytest.mark.parametrize(
    ("value", "keep_scale", "trim_zeros"),
    [
        ("0.01000000", "0.01000000", "0.01"),
        ("1E-8", "0.00000001", "0.00000001"),
        ("1E-5", "0.00001", "0.00001"),
        ("4.00", "4.00", "4"),
        ("1.18800", "1.18800", "1.188"),
        ("10000", "10000", "10000"),
        ("1E+4", "10000", "10000"),
        ("1.5E+3", "1500", "1500"),
        ("0", "0", "0"),
        ("0E-50", "0." + "0" * 50, "0"),
        ("-0.00", "-0.00", "0"),
        ("-2.50", "-2.50", "-2.5"),
        ("0.0000012", "0.0000012", "0.0000012"),
    ],
)
def test_exact_vectors(value: str, keep_scale: str, trim_zeros: str) -> None:
    assert decimal_text_keep_scale(Decimal(value)) == keep_scale
    assert decimal_text_trim_zeros(Decimal(value)) == trim_zeros


@given(st.integers(-(10**30), 10**30), st.integers(-40, 20))
def test_both_are_positional_text_of_the_same_number(digits: int, exponent: int) -> None:
    value = Decimal(f"{digits}E{exponent}")
    kept, trimmed = decimal_text_keep_scale(value), decimal_text_trim_zeros(value)

    assert "E" not in kept and "e" not in kept and "E" not in trimmed and "e" not in trimmed
    assert Decimal(kept) == value and Decimal(trimmed) == value
    assert Decimal(kept).as_tuple().exponent == min(value.as_tuple().exponent, 0)  # type: ignore[operator]
    assert not trimmed.endswith(".") and (trimmed == "0" or "." not in trimmed or not trimmed.endswith("0"))
