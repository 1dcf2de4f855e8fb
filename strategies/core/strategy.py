"""The strategy protocol and what a strategy is shown.

A strategy is a class with typed parameters (a frozen dataclass, :mod:`strategies.core.params`) that, at each step
of the clock, looks at a :class:`View` (bars up to now, its portfolio, its open orders) and returns intents. It never
learns which mode it runs in: backtest, paper and live show it the same view. The view's reads stop at the current
step: a bar that has not closed yet cannot be read, so no strategy can look ahead.

Strategies keep what they must remember between steps in ``self.state`` (JSON-able), which paper and live runs
store, so a restarted worker resumes where it stopped.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

import numpy as np

from strategies.core.data import MarketData
from strategies.core.intents import Intent
from strategies.core.markets import Market
from strategies.core.params import ParamError
from strategies.core.portfolio import EntryKind, LedgerEntry

if TYPE_CHECKING:
    from strategies.core.data import FloatArray
    from strategies.core.portfolio import Portfolio

P = TypeVar("P")


class LookAheadError(IndexError):
    """A read of a bar that has not closed at the current step."""


class View:
    """The state a strategy decides from at step ``k``: each market's closed bars, the portfolio, open orders."""

    __slots__ = ("_counts", "_counts_k", "_data", "_index", "_pending", "k", "portfolio", "time_ms")

    def __init__(self, data: MarketData, portfolio: Portfolio) -> None:
        self._data = data
        self._index = data.index
        self.portfolio = portfolio
        self._pending: dict[Market, int] = {}
        self.k = -1
        self.time_ms = 0
        self._counts: list[int] = [0] * len(data.series)
        self._counts_k = -1

    def _visible(self, j: int) -> int:
        k = self.k
        if k != self._counts_k:  # the first read at a step: every series' count at once
            self._counts = self._data.visible_rows[k].tolist() if k >= 0 else [0] * len(self._data.series)
            self._counts_k = k
        return self._counts[j]

    def _series_at(self, market: Market, ago: int) -> tuple[int, int]:
        j = self._index[market]
        n = self._visible(j)
        if ago < 0:
            raise LookAheadError(f"{market}: a bar {-ago} step(s) in the future")
        if ago >= n:
            raise LookAheadError(f"{market}: {ago + 1} bars asked, {n} closed")
        return j, n - 1 - ago

    def bars(self, market: Market) -> int:
        """How many bars of ``market`` have closed."""
        return self._visible(self._index[market])

    def close(self, market: Market, ago: int = 0) -> Decimal:
        """The exact close of the bar ``ago`` bars back (0: the latest closed)."""
        j, i = self._series_at(market, ago)
        series = self._data.series[j]
        return series.price(series.close.item(i))

    def close_float(self, market: Market, ago: int = 0) -> float:
        """The close as a float, for signals (never for accounting)."""
        j, i = self._series_at(market, ago)
        value: float = self._data.close_floats[j].item(i)
        return value

    def closes_float(self, market: Market, count: int) -> FloatArray:
        """The last ``count`` closes (fewer if fewer have closed), oldest first, as floats."""
        j = self._index[market]
        n = self._visible(j)
        return self._data.close_floats[j][max(0, n - count) : n].copy()

    def last_close_ms(self, market: Market) -> int | None:
        """When the latest closed bar of ``market`` closed (ms UTC), or None before its first bar."""
        j = self._index[market]
        n = self._visible(j)
        if n == 0:
            return None
        series = self._data.series[j]
        opened: int = series.open_ms.item(n - 1)
        return opened + series.interval_ms

    def updated(self, market: Market) -> bool:
        """Whether a bar of ``market`` closed at this very step."""
        return self.last_close_ms(market) == self.time_ms

    def bars_before(self, market: Market, time_ms: int) -> int:
        """How many of the closed bars of ``market`` opened before ``time_ms``."""
        j = self._data.index[market]
        n = self._visible(j)
        return min(n, int(np.searchsorted(self._data.series[j].open_ms, time_ms, side="left")))

    def last_fill(self, market: Market) -> LedgerEntry | None:
        """The latest trade booked on ``market``."""
        for entry in reversed(self.portfolio.ledger):
            if entry.kind is EntryKind.TRADE and entry.venue == market.venue and entry.symbol == market.symbol:
                return entry
        return None

    def position(self, market: Market) -> Decimal:
        return self.portfolio.position(market)

    def cash(self, venue: str) -> Decimal:
        return self.portfolio.cash_at(venue)

    def pending(self, market: Market) -> int:
        """How many of this strategy's orders on ``market`` wait for a fill."""
        return self._pending.get(market, 0)


class Strategy(ABC, Generic[P]):
    """Subclass with ``name``, ``family`` and ``Params``; implement :meth:`on_bar`."""

    name: ClassVar[str]
    family: ClassVar[str]  # the risk layer's family: "cex", "aave", "gmx", "dex"
    description: ClassVar[str] = ""
    Params: ClassVar[type[Any]]

    def __init__(self, params: P, markets: Sequence[Market]) -> None:
        if not markets:
            raise ParamError("a strategy needs at least one market")
        self.params = params
        self.markets = tuple(markets)
        self.state: dict[str, Any] = {}

    @abstractmethod
    def traded(self) -> Sequence[Market]:
        """The markets this strategy may trade; the run's cash is split over their venues."""

    def warmup_bars(self) -> int | None:
        """How many closed bars of each market a step reads back at most; paper and live runs show a batch of new
        steps that many bars from before it. None (the default): every bar since the run started."""
        return None

    def on_start(self, view: View) -> Sequence[Intent]:
        """Intents before the first bar closes (filled at the first bar's open)."""
        return ()

    @abstractmethod
    def on_bar(self, view: View) -> Sequence[Intent]:
        """Intents at a step of the clock (a bar of some market closed)."""


STRATEGIES: dict[str, type[Strategy[Any]]] = {}


def strategy_register(cls: type[Strategy[Any]]) -> type[Strategy[Any]]:
    """Class decorator: make the strategy available by its name."""
    if cls.name in STRATEGIES and STRATEGIES[cls.name] is not cls:
        raise ValueError(f"strategy {cls.name!r} registered twice")
    STRATEGIES[cls.name] = cls
    return cls
