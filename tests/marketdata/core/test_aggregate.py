"""Trades into candles and resampling: exact, against freqtrade's real XRP/ETH candles and against self-made data."""

from __future__ import annotations

import gzip
import json
from decimal import Decimal
from pathlib import Path

import pyarrow.feather as feather
import pytest
from hypothesis import given
from hypothesis import strategies as st

from marketdata.core.aggregate import resample, trades_to_candles
from marketdata.core.candles import Candle, CandleError
from marketdata.core.intervals import INTERVALS
from tests.marketdata.core.payloads import candles_make

M1, M5 = INTERVALS["1m"], INTERVALS["5m"]
T0 = 1_570_752_000_000  # 2019-10-11 00:00 UTC


# --- trades --------------------------------------------------------------------------------------------------------


def test_trades_make_exact_candles() -> None:
    trades = [
        (T0 + 1_000, "0.5", "1.1"),
        (T0 + 2_000, "0.7", "0.2"),
        (T0 + 2_000, "0.40", "0.7"),
        (T0 + 59_999, "0.6", "1e-8"),
        # 00:01 has no trade: no candle.
        (T0 + 120_000, "1.00", "3"),
        (T0 + 150_000, "1.0", "0.000"),
    ]

    candles = trades_to_candles(trades, M1)

    assert candles == [
        Candle(T0, "0.5", "0.7", "0.40", "0.6", "2.00000001"),
        # 1.0 ties the high 1.00: the first text is kept; the close is the last trade's own text.
        Candle(T0 + 120_000, "1.00", "1.00", "1.00", "1.0", "3.000"),
    ]


def test_no_trade_no_candle() -> None:
    assert trades_to_candles([], M1) == []


def test_the_last_candle_is_open_until_its_end_when_now_is_given() -> None:
    trades = [(T0, "1", "1"), (T0 + 60_000, "1", "1")]

    assert [c.closed for c in trades_to_candles(trades, M1, now_ms=T0 + 119_999)] == [True, False]
    assert [c.closed for c in trades_to_candles(trades, M1, now_ms=T0 + 120_000)] == [True, True]


@pytest.mark.parametrize(
    "trades",
    [
        [(T0 + 5, "1", "1"), (T0 + 4, "1", "1")],  # out of time order
        [(T0, "1", "abc")],
        [(T0, "1.2.3", "1")],
        [(T0, "-1", "1")],
        [(T0, "1", "-0.5")],
        [(T0, "NaN", "1")],
    ],
)
def test_bad_trades_are_refused(trades: list[tuple[int, str, str]]) -> None:
    with pytest.raises(CandleError):
        trades_to_candles(trades, M1)


@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=600_000),
            st.decimals(min_value=Decimal("0.00000001"), max_value=Decimal("100000"), places=8),
            st.decimals(min_value=Decimal(0), max_value=Decimal("100000"), places=8),
        ),
        max_size=200,
    )
)
def test_trades_against_a_plain_model(raw: list[tuple[int, Decimal, Decimal]]) -> None:
    trades = sorted(((T0 + t, str(p), str(a)) for t, p, a in raw), key=lambda trade: trade[0])

    candles = trades_to_candles(trades, M1)

    buckets: dict[int, list[tuple[int, str, str]]] = {}
    for trade in trades:
        buckets.setdefault(trade[0] // 60_000 * 60_000, []).append(trade)
    assert [c.open_time for c in candles] == sorted(buckets)
    for candle in candles:
        group = buckets[candle.open_time]
        prices = [Decimal(p) for _, p, _ in group]
        assert Decimal(candle.open) == prices[0]
        assert Decimal(candle.close) == prices[-1]
        assert (Decimal(candle.high), Decimal(candle.low)) == (max(prices), min(prices))
        assert Decimal(candle.volume) == sum((Decimal(a) for _, _, a in group), Decimal(0))
        assert "E" not in candle.volume and "e" not in candle.volume


def _xrp_eth_trades(folder: Path) -> list[tuple[int, str, str]]:
    # ccxt rows [timestamp, id, type, side, price, amount, cost]; numbers read as their literal text.
    rows = json.loads(gzip.decompress((folder / "XRP_ETH-trades.json.gz").read_bytes()), parse_float=str)
    return [(int(row[0]), row[4], row[5]) for row in rows]


@pytest.mark.parametrize(
    ("code", "filename", "count"), [("1m", "XRP_ETH-1m.feather", 2469), ("5m", "XRP_ETH-5m.feather", 706)]
)
def test_recorded_trades_aggregate_to_the_recorded_candles(
    klines_fixtures: Path, code: str, filename: str, count: int
) -> None:
    folder = klines_fixtures / "freqtrade"
    trades = _xrp_eth_trades(folder)
    assert len(trades) == 12_477

    candles = trades_to_candles(trades, INTERVALS[code])

    table = feather.read_table(folder / filename)
    dates = [int(ns) // 1_000_000 for ns in table.column("date").cast("int64").to_pylist()]
    expected = list(
        zip(
            dates, *(table.column(name).to_pylist() for name in ("open", "high", "low", "close", "volume")), strict=True
        )
    )
    assert len(candles) == len(expected) == count
    # The feather file is float64: each exact decimal must round to exactly the recorded float.
    mine = [(c.open_time, *(float(Decimal(x)) for x in (c.open, c.high, c.low, c.close, c.volume))) for c in candles]
    assert mine == expected


def test_recorded_trades_resampled_from_1m_equal_the_5m_aggregation(klines_fixtures: Path) -> None:
    trades = _xrp_eth_trades(klines_fixtures / "freqtrade")

    resampled = resample(trades_to_candles(trades, M1), M1, M5)

    assert len(resampled) == 706
    assert resampled == trades_to_candles(trades, M5)


# --- resampling ----------------------------------------------------------------------------------------------------


def test_resample_exact() -> None:
    source = [
        Candle(T0, "10", "12", "9", "11", "1.5"),
        Candle(T0 + 60_000, "11", "15", "11", "14", "2.25"),
        # 00:02 missing (no trades on Coinbase): a gap, not an open candle.
        Candle(T0 + 180_000, "14", "14", "8.50", "9", "0.25"),
        Candle(T0 + 240_000, "9", "10", "8.5", "10", "1"),
        Candle(T0 + 300_000, "10", "10", "10", "10", "0"),
    ]

    assert resample(source, M1, M5) == [
        Candle(T0, "10", "15", "8.50", "10", "5.00", closed=True),
        # Cut off by the end of the data: 00:09 is missing, so the 00:05 candle is still open.
        Candle(T0 + 300_000, "10", "10", "10", "10", "0", closed=False),
    ]


def test_resampled_candle_is_open_while_a_source_candle_is_open() -> None:
    source = [Candle(T0 + i * 60_000, "1", "1", "1", "1", "1", closed=i < 4) for i in range(5)]

    assert [c.closed for c in resample(source, M1, M5)] == [False]


def test_resample_to_weeks_and_months_follows_their_grids() -> None:
    days = candles_make(INTERVALS["1d"], 1_546_300_800_000, 62, seed=5)  # 2019-01-01 (a Tuesday) … 2019-03-03

    weeks = resample(days, INTERVALS["1d"], INTERVALS["1w"])
    months = resample(days, INTERVALS["1d"], INTERVALS["1M"])

    assert weeks[0].open_time == 1_546_214_400_000  # Monday 2018-12-31: six of its days are in the data
    assert [c.open_time for c in months] == [1_546_300_800_000, 1_548_979_200_000, 1_551_398_400_000]
    assert [c.closed for c in months] == [True, True, False]
    assert months[1].volume == str(sum((Decimal(d.volume) for d in days[31:59]), Decimal(0)))


def test_generated_resample_against_direct_aggregation() -> None:
    minutes = candles_make(M1, T0, 1440, seed=9)

    hours = resample(minutes, M1, INTERVALS["1h"])

    assert len(hours) == 24
    for index, hour in enumerate(hours):
        group = minutes[index * 60 : (index + 1) * 60]
        assert hour.open == group[0].open and hour.close == group[-1].close
        assert Decimal(hour.high) == max(Decimal(c.high) for c in group)
        assert Decimal(hour.low) == min(Decimal(c.low) for c in group)
        assert Decimal(hour.volume) == sum((Decimal(c.volume) for c in group), Decimal(0))
        assert hour.closed


@pytest.mark.parametrize(("source", "target"), [("5m", "1m"), ("3m", "5m"), ("1M", "1d"), ("1w", "1M"), ("3d", "1w")])
def test_incompatible_intervals_are_refused(source: str, target: str) -> None:
    with pytest.raises(ValueError, match=r"cannot make|not a whole multiple"):
        resample([], INTERVALS[source], INTERVALS[target])


@pytest.mark.parametrize(
    "source",
    [
        [Candle(T0 + 1, "1", "1", "1", "1", "1")],  # misaligned
        [Candle(T0, "1", "1", "1", "1", "1"), Candle(T0, "1", "1", "1", "1", "1")],  # duplicate
        [Candle(T0 + 60_000, "1", "1", "1", "1", "1"), Candle(T0, "1", "1", "1", "1", "1")],  # descending
    ],
)
def test_bad_source_candles_are_refused(source: list[Candle]) -> None:
    with pytest.raises(CandleError):
        resample(source, M1, M5)
