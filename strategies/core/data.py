"""Bars as the engine reads them: one :class:`BarSeries` per market (numpy columns, prices as exact scaled integers),
several aligned on one clock by :class:`MarketData`.

A bar becomes visible at its **close time** (open time + interval). The engine's clock steps through the union of
all series' close times; at step ``k`` a series shows the bars that closed at or before that time and nothing
later. Prices are integers ``price * 10**scale`` (``scale`` per series, the largest decimal scale in its text), so
every price the accounting reads back is the venue's exact decimal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from hftplatform.core.decimal_text import decimal_scale
from strategies.core.markets import Market

if TYPE_CHECKING:
    IntArray = np.ndarray[Any, np.dtype[np.int64]]
    FloatArray = np.ndarray[Any, np.dtype[np.float64]]
    BoolArray = np.ndarray[Any, np.dtype[np.bool_]]


INT64_MAX = 2**63 - 1


class DataError(ValueError):
    """Bars the engine cannot use: unsorted or duplicate times, no bars, prices that are not exact decimals."""


@dataclass(frozen=True, eq=False)
class BarSeries:
    """One market's closed bars in time order. ``open``…``close`` are ``price * 10**scale`` as int64."""

    market: Market
    interval_ms: int
    open_ms: IntArray
    open: IntArray
    high: IntArray
    low: IntArray
    close: IntArray
    volume: FloatArray  # statistics only
    scale: int

    def __post_init__(self) -> None:
        n = len(self.open_ms)
        if any(len(column) != n for column in (self.open, self.high, self.low, self.close, self.volume)):
            raise DataError(f"{self.market}: columns of different lengths")
        if self.interval_ms <= 0:
            raise DataError(f"{self.market}: interval must be positive")
        if n > 1 and not bool(np.all(np.diff(self.open_ms) > 0)):
            raise DataError(f"{self.market}: open times are not strictly increasing")

    def __len__(self) -> int:
        return len(self.open_ms)

    @property
    def close_ms(self) -> IntArray:
        return self.open_ms + self.interval_ms

    def price(self, scaled: int) -> Decimal:
        """The exact decimal of a scaled price of this series."""
        return Decimal(scaled).scaleb(-self.scale)

    @classmethod
    def from_text(
        cls,
        market: Market,
        interval_ms: int,
        rows: Sequence[tuple[int, str, str, str, str, str]],
    ) -> BarSeries:
        """From ``(open_ms, open, high, low, close, volume)`` rows with the venue's decimal text."""
        if not rows:
            return cls.empty(market, interval_ms)
        try:
            scale = max(decimal_scale(text) for row in rows for text in row[1:5])
        except (ValueError, InvalidOperation) as error:  # NaN, Infinity, or no number at all
            raise DataError(f"{market}: a price is not a finite decimal ({error})") from None
        factor = Decimal(1).scaleb(scale)

        def scaled(text: str) -> int:
            value = Decimal(text) * factor
            if value != value.to_integral_value() or not value.is_finite():
                raise DataError(f"{market}: price {text!r} is not an exact decimal")
            if abs(value) > INT64_MAX:
                raise DataError(f"{market}: price {text!r} at scale {scale} does not fit an int64")
            return int(value)

        columns = list(zip(*rows, strict=True))
        return cls(
            market=market,
            interval_ms=interval_ms,
            open_ms=np.asarray(columns[0], dtype=np.int64),
            open=np.asarray([scaled(t) for t in columns[1]], dtype=np.int64),
            high=np.asarray([scaled(t) for t in columns[2]], dtype=np.int64),
            low=np.asarray([scaled(t) for t in columns[3]], dtype=np.int64),
            close=np.asarray([scaled(t) for t in columns[4]], dtype=np.int64),
            volume=np.asarray([float(t) for t in columns[5]], dtype=np.float64),
            scale=scale,
        )

    @classmethod
    def empty(cls, market: Market, interval_ms: int) -> BarSeries:
        none = np.zeros(0, dtype=np.int64)
        return cls(market, interval_ms, none, none, none, none, none, np.zeros(0, dtype=np.float64), 0)

    def until(self, end_ms: int) -> BarSeries:
        """The bars that open before ``end_ms``."""
        n = int(np.searchsorted(self.open_ms, end_ms, side="left"))
        return BarSeries(
            self.market,
            self.interval_ms,
            self.open_ms[:n],
            self.open[:n],
            self.high[:n],
            self.low[:n],
            self.close[:n],
            self.volume[:n],
            self.scale,
        )


class MarketData:
    """Several series on one clock: ``times`` is the sorted union of their close times, and ``visible[j][k]`` the
    number of bars of series ``j`` that closed at or before ``times[k]``."""

    def __init__(self, series: Sequence[BarSeries]) -> None:
        if not series:
            raise DataError("no markets")
        keys = [s.market for s in series]
        if len(set(keys)) != len(keys):
            raise DataError("a market appears twice")
        self.series: tuple[BarSeries, ...] = tuple(series)
        self.index: dict[Market, int] = {s.market: j for j, s in enumerate(series)}
        closes = [s.close_ms for s in series if len(s)]
        self.times: IntArray = np.unique(np.concatenate(closes)) if closes else np.zeros(0, dtype=np.int64)
        self.visible: list[IntArray] = [
            np.searchsorted(s.close_ms, self.times, side="right").astype(np.int64) for s in series
        ]

    @property
    def bars(self) -> int:
        return sum(len(s) for s in self.series)

    @cached_property
    def visible_rows(self) -> IntArray:
        """``visible`` as one row per step (``visible_rows[k][j] == visible[j][k]``), for a step's reads at once."""
        if not len(self.times):
            return np.zeros((0, len(self.series)), dtype=np.int64)
        return np.ascontiguousarray(np.stack(self.visible, axis=1))

    @cached_property
    def close_floats(self) -> list[FloatArray]:
        """Each series' closes as floats (``close / 10**scale``), for signals."""
        return [s.close / 10.0**s.scale for s in self.series]

    def __len__(self) -> int:
        return len(self.times)
