"""Candle.validate: its float fast path never accepts what the exact Decimal rule refuses, nor the reverse."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marketdata.core.candles import Candle, CandleError


def exact_ok(o: str, h: str, lo: str, c: str, v: str) -> bool:
    do, dh, dl, dc, dv = (Decimal(x) for x in (o, h, lo, c, v))
    return dl >= 0 and dv >= 0 and dl <= min(do, dc) and max(do, dc) <= dh


# Texts that round to the same float but differ exactly (the cases the fast path must hand to Decimal).
NEAR = ["1", "1.0000000000000000001", "0.9999999999999999999", "0", "0.1", "0.10000000000000000001", "2", "1e400"]
decimal_texts = st.one_of(
    st.sampled_from(NEAR),
    st.decimals(min_value=0, max_value=10**6, allow_nan=False, allow_infinity=False, places=12).map(str),
)


@settings(max_examples=400)
@given(decimal_texts, decimal_texts, decimal_texts, decimal_texts, decimal_texts)
def test_validate_agrees_with_the_exact_rule(o: str, h: str, lo: str, c: str, v: str) -> None:
    candle = Candle(0, o, h, lo, c, v)
    if exact_ok(o, h, lo, c, v):
        assert candle.validate() is candle
    else:
        with pytest.raises(CandleError):
            candle.validate()


@pytest.mark.parametrize(
    "fields",
    [
        ("1", "1.0000000000000000001", "1.0000000000000000002", "1", "1"),  # low above open by 1e-19
        ("1.0000000000000000001", "1", "0.5", "1", "1"),  # open above high by 1e-19
        ("1", "inf", "0.5", "1", "1"),
        ("1", "2", "0.5", "1", "nan"),
        ("1", "2", "-0.0000000000000000001", "1", "1"),
    ],
)
def test_differences_below_float_resolution_and_non_finite_values_are_refused(fields: tuple[str, ...]) -> None:
    with pytest.raises(CandleError):
        Candle(0, *fields).validate()
