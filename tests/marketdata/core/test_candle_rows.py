"""Candle rows: the column-wise fast path accepts only what the row-by-row path accepts, with the same text.

Every venue's ``klines_rows`` is compared with the row-by-row path it replaces on the download's hot path
(``klines_parse``, then the store's checks in ``candle_rows_from_candles``): the same rows for good pages, the same
error for bad ones — over generated pages with one mutation each (odd decimal text, ties below float resolution,
holes, duplicates, disorder, misaligned times, an open last candle).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marketdata.core import binance, bybit, coinbase
from marketdata.core.candle_rows import (
    CandleRows,
    candle_rows_fast,
    candle_rows_from_candles,
    candle_rows_join,
)
from marketdata.core.candles import Candle, CandleError
from marketdata.core.intervals import INTERVALS, Interval
from tests.marketdata.core.payloads import (
    binance_klines_payload,
    bybit_klines_payload,
    candles_make,
    coinbase_candles_payload,
)

M1 = INTERVALS["1m"]
T0 = 1_570_752_000_000  # 2019-10-11 00:00 UTC
NOW = 2_000_000_000_000


def _fast(candles: list[Candle], interval: Interval = M1, now_ms: int = NOW) -> CandleRows | None:
    columns = [[getattr(c, name) for c in candles] for name in ("open_time", "open", "high", "low", "close", "volume")]
    return candle_rows_fast(interval, now_ms, *columns)


def _outcome(make: Callable[[], Any]) -> Any:
    try:
        return make()
    except Exception as error:  # the type and the message are what must agree
        return (type(error).__name__, str(error))


# --- the fast path alone -------------------------------------------------------------------------------------------


def test_a_clean_page_takes_the_fast_path_and_writes_what_the_row_path_writes() -> None:
    candles = candles_make(M1, T0, 1000)

    rows = _fast(candles)

    assert rows is not None
    assert rows == candle_rows_from_candles(candles, M1)
    assert (rows.count, rows.first_ms, rows.last_ms, rows.interval) == (1000, T0, T0 + 999 * 60_000, "1m")
    assert rows.text.splitlines()[0] == "\t".join([str(T0), *_fields(candles[0]), "t"])
    assert rows.candles() == candles


def test_only_the_candles_not_yet_closed_are_written_open() -> None:
    candles = candles_make(M1, T0, 5)
    now = T0 + 4 * 60_000 + 1  # inside the fifth minute

    rows = _fast(candles, now_ms=now)

    assert rows is not None
    assert [line[-1] for line in rows.text.splitlines()] == ["t", "t", "t", "t", "f"]
    assert rows == candle_rows_from_candles([*candles[:4], replace(candles[4], closed=False)], M1)


def test_a_page_with_holes_is_checked_time_by_time() -> None:
    candles = candles_make(M1, T0, 10)
    with_holes = candles[:3] + candles[5:]

    rows = _fast(with_holes)

    assert rows is not None
    assert rows == candle_rows_from_candles(with_holes, M1)


@pytest.mark.parametrize(
    "text",
    ["1.", ".5", "1e-5", "1E+3", "-1", "+1", " 1", "1 ", "1\t2", "1\n2", "", ".", "1.2.3", "1_000", "\u0661", "inf",
     "nan", "0x10"],
)  # fmt: skip
def test_text_that_is_not_plain_decimal_is_left_to_the_row_path(text: str) -> None:
    candles = candles_make(M1, T0, 20)
    candles[7] = replace(candles[7], volume=text)

    assert _fast(candles) is None
    with pytest.raises(CandleError):
        candle_rows_from_candles(candles, M1)


@pytest.mark.parametrize(
    ("fields", "valid"),
    [
        (("1", "1", "1", "1", "1"), True),  # every price equal: ties decided by equal text
        (("1.0", "1.00", "1", "1.000", "0"), True),  # equal numbers, different text: decided by Decimal
        (("1.0000000000000000001", "1.0000000000000000001", "1", "1", "1"), True),
        (("1", "1.0000000000000000001", "1.0000000000000000002", "1", "1"), False),  # low above open by 1e-19
        (("1.0000000000000000001", "1", "0.5", "1", "1"), False),  # open above high by 1e-19
        (("2", "1", "0.5", "1", "1"), False),
        (("1" + "0" * 400, "1" + "0" * 400, "1", "1", "1"), True),  # beyond float range: Decimal decides
        (("2" + "0" * 400, "1" + "0" * 400, "1", "1", "1"), False),
    ],
)
def test_ties_and_differences_below_float_resolution_are_decided_exactly(fields: tuple[str, ...], valid: bool) -> None:
    candles = candles_make(M1, T0, 3)
    candles[1] = Candle(candles[1].open_time, *fields)

    rows = _fast(candles)

    if valid:
        assert rows == candle_rows_from_candles(candles, M1)
    else:
        assert rows is None
        with pytest.raises(CandleError, match="outside"):
            candle_rows_from_candles(candles, M1)


@pytest.mark.parametrize(
    "times",
    [
        [T0, T0 + 60_000, T0 + 60_000],  # duplicate
        [T0, T0 + 120_000, T0 + 60_000],  # out of order
        [T0 + 1, T0 + 60_001, T0 + 120_001],  # off the grid, yet evenly spaced
        [T0, T0 + 60_000, T0 + 150_000],  # one off the grid after a hole
        [T0, T0 + 60_000.0, T0 + 120_000],  # a float that compares equal
        [T0, True, T0 + 120_000],
    ],
)
def test_times_that_are_not_strictly_ascending_integers_on_the_grid_are_left_to_the_row_path(times: list[Any]) -> None:
    candles = candles_make(M1, T0, 3)
    columns = [[getattr(c, name) for c in candles] for name in ("open", "high", "low", "close", "volume")]

    assert candle_rows_fast(M1, NOW, times, *columns) is None


def test_columns_of_unequal_length_or_fields_that_are_not_text_are_left_to_the_row_path() -> None:
    candles = candles_make(M1, T0, 3)
    times = [c.open_time for c in candles]
    texts = [c.open for c in candles]

    assert candle_rows_fast(M1, NOW, times, texts, texts, texts, texts, texts[:2]) is None
    assert candle_rows_fast(M1, NOW, times, texts, texts, texts, texts, [*texts[:2], 5]) is None  # type: ignore[list-item]
    assert candle_rows_fast(M1, NOW, [], [], [], [], [], []) is None


def test_monthly_candles_are_checked_on_the_calendar() -> None:
    month = INTERVALS["1M"]
    candles = candles_make(month, T0, 14)  # across a year end: months of 28 to 31 days

    assert _fast(candles, month) == candle_rows_from_candles(candles, month)
    shifted = [*candles[:5], replace(candles[5], open_time=candles[5].open_time + 30 * 86_400_000), *candles[6:]]
    assert _fast(shifted, month) is None


# --- joining pages -------------------------------------------------------------------------------------------------


def test_pages_join_in_open_time_order_whatever_order_they_arrived_in() -> None:
    candles = candles_make(M1, T0, 30)
    pages = [candle_rows_from_candles(candles[i : i + 10], M1) for i in (20, 0, 10)]

    assert candle_rows_join(pages) == candle_rows_from_candles(candles, M1)
    assert candle_rows_join([pages[0], candle_rows_from_candles([], M1)]) == pages[0]


def test_overlapping_pages_or_mixed_intervals_do_not_join() -> None:
    candles = candles_make(M1, T0, 20)

    with pytest.raises(CandleError, match="overlap"):
        candle_rows_join([candle_rows_from_candles(candles[:11], M1), candle_rows_from_candles(candles[10:], M1)])
    five = candle_rows_from_candles(candles_make(INTERVALS["5m"], T0, 2), INTERVALS["5m"])
    with pytest.raises(ValueError, match="different intervals"):
        candle_rows_join([candle_rows_from_candles(candles, M1), five])


# --- each venue: klines_rows against the row-by-row path ----------------------------------------------------------

VENUES: dict[str, tuple[Any, Callable[[list[Candle]], bytes]]] = {
    "binance": (binance, lambda cs: binance_klines_payload(cs, M1)),
    "bybit": (bybit, bybit_klines_payload),
    "coinbase": (coinbase, coinbase_candles_payload),
}
ODD_TEXTS = ["1.", ".5", "1e-5", "-1", "1\t2", "", "1.2.3", "0", "0.0", "1.0000000000000000001", "1" + "0" * 30]


def _mutate(candles: list[Candle], kind: str, index: int, text: str) -> list[Candle]:
    out = list(candles)
    i = index % len(out)
    if kind == "field":
        field = ("open", "high", "low", "close", "volume")[index % 5]
        out[i] = replace(out[i], **{field: text})
    elif kind == "tie":  # high equal to the open (and maybe the close): a tie the floats cannot decide
        out[i] = replace(out[i], high=max(out[i].open, out[i].close, key=float))
    elif kind == "hole":
        del out[i]
    elif kind == "duplicate":
        out.insert(i, out[i])
    elif kind == "swap" and len(out) > 1:
        j = (i + 1) % len(out)
        out[i], out[j] = out[j], out[i]
    elif kind == "misaligned":
        out[i] = replace(out[i], open_time=out[i].open_time + 1000)
    return out


@settings(max_examples=300, deadline=None)
@given(
    venue=st.sampled_from(sorted(VENUES)),
    count=st.integers(min_value=1, max_value=40),
    seed=st.integers(min_value=0, max_value=1000),
    kind=st.sampled_from(["none", "field", "tie", "hole", "duplicate", "swap", "misaligned"]),
    index=st.integers(min_value=0, max_value=10_000),
    text=st.sampled_from(ODD_TEXTS),
    open_last=st.booleans(),
)
def test_klines_rows_agrees_with_the_row_by_row_path(
    venue: str, count: int, seed: int, kind: str, index: int, text: str, open_last: bool
) -> None:
    module, payload_of = VENUES[venue]
    candles = _mutate(candles_make(M1, T0, count, seed=seed, scale=seed % 9), kind, index, text)
    try:
        payload = payload_of(candles)
    except (TypeError, ValueError):
        return
    now = candles[-1].open_time + 30_000 if open_last and candles else NOW

    fast = _outcome(lambda: module.klines_rows(payload, interval=M1, now_ms=now))
    slow = _outcome(lambda: candle_rows_from_candles(module.klines_parse(payload, interval=M1, now_ms=now), M1))

    assert fast == slow


@pytest.mark.parametrize("venue", sorted(VENUES))
def test_a_clean_venue_page_is_not_rebuilt_row_by_row(venue: str, monkeypatch: pytest.MonkeyPatch) -> None:
    module, payload_of = VENUES[venue]
    candles = candles_make(M1, T0, 300)
    payload = payload_of(candles)
    expected = candle_rows_from_candles(module.klines_parse(payload, interval=M1, now_ms=NOW), M1)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("took the row-by-row path")

    monkeypatch.setattr(module, "candle_rows_from_candles", refuse)
    assert module.klines_rows(payload, interval=M1, now_ms=NOW) == expected


def test_coinbase_exponent_numbers_take_the_row_path_and_are_written_plain() -> None:
    payload = b"[[1546300860,1,2,1.5,1.5,1e-05],[1546300800,1,2,1.5,1.5,7]]"

    rows = coinbase.klines_rows(payload, interval=M1, now_ms=NOW)

    assert rows.text == "1546300800000\t1.5\t2\t1\t1.5\t7\tt\n1546300860000\t1.5\t2\t1\t1.5\t0.00001\tt\n"


def test_bybit_start_times_that_int_would_take_but_bybit_never_writes_are_refused() -> None:
    body = json.loads(bybit_klines_payload(candles_make(M1, T0, 2)))
    body["result"]["list"][0][0] = " " + body["result"]["list"][0][0]
    payload = json.dumps(body).encode()

    assert _outcome(lambda: bybit.klines_rows(payload, interval=M1, now_ms=NOW)) == _outcome(
        lambda: bybit.klines_parse(payload, interval=M1, now_ms=NOW)
    )


def _fields(candle: Candle) -> list[str]:
    return [candle.open, candle.high, candle.low, candle.close, candle.volume]
