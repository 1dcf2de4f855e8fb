"""The vectorised path: ``hold`` and ``leadlag`` computed on numpy arrays in float64, for parameter sweeps and
walk-forward studies, held equal to the event-driven :class:`~strategies.core.engine.Engine` (same trades, NAV
within 1e-9 relative at every step) by a test on random data.

It reproduces the engine's rules, not an approximation of them, on bars aligned across venues (every series has
the same open times, so a step of the engine's clock is one bar of every market):

- a decision at step ``d`` (the close of bar ``d``) fills at the open of the first bar opening at or after
  ``close_ms[d] + latency_ms``, booked at the first step after that open (the fill bar's close);
- taker fee and slippage on both legs; spot buys spend ``size`` of the cash (fee included), perpetual entries are
  ``cash * size / close`` base units; the exit sells (or buys back) the whole position;
- ``leadlag``'s signal is the same float expression as the strategy's (``close / close[lookback ago] - 1``) and its
  stop the same float comparison against the fill price, so each decision is bit for bit the strategy's.

A run is a chain of round trips: a candidate step (the signal fires) becomes a trade only when the strategy is
flat and has no order waiting, that is at or after the step the previous exit filled. The candidates and each
candidate's exit are arrays; only the walk along the chain (one jump per trade) is a Python loop.

Floats are statistics here: nothing of this module flows back into a ledger.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from strategies.core.costs import BPS
from strategies.core.data import BarSeries, MarketData
from strategies.core.markets import Market, MarketKind

if TYPE_CHECKING:
    from strategies.core.data import BoolArray, FloatArray, IntArray
    from strategies.core.engine import EngineConfig
    from strategies.core.strategy import Strategy

DAY_MS = 86_400_000
YEAR_DAYS = 365


class VectorisedError(ValueError):
    """Data or settings the vectorised path does not reproduce exactly (use the event-driven engine)."""


# -- data -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class AlignedBars:
    """Bars of several markets on the same open times. ``opens[j]``/``closes[j]`` are market ``j``'s prices as
    floats (``scaled / 10**scale``, the float the strategies' ``close_float`` reads)."""

    markets: tuple[Market, ...]
    interval_ms: int
    open_ms: IntArray
    opens: FloatArray  # (markets, bars)
    closes: FloatArray  # (markets, bars)

    def __len__(self) -> int:
        return len(self.open_ms)

    @property
    def close_ms(self) -> IntArray:
        """The step times: the engine's clock on aligned bars."""
        return self.open_ms + self.interval_ms

    def index(self, market: Market) -> int:
        try:
            return self.markets.index(market)
        except ValueError:
            raise VectorisedError(f"no bars for {market}") from None

    def window(self, start_ms: int, end_ms: int) -> AlignedBars:
        """The bars that open in ``[start_ms, end_ms)``."""
        lo, hi = np.searchsorted(self.open_ms, [start_ms, end_ms], side="left")
        return AlignedBars(
            self.markets, self.interval_ms, self.open_ms[lo:hi], self.opens[:, lo:hi], self.closes[:, lo:hi]
        )


def aligned_bars(data: MarketData | Sequence[BarSeries]) -> AlignedBars:
    """The market data (or its series) as :class:`AlignedBars`; :class:`VectorisedError` if the series do not
    share their open times and interval (the engine's clock then interleaves them, which this path does not
    model)."""
    series = data.series if isinstance(data, MarketData) else tuple(data)
    if not series:
        raise VectorisedError("no markets")
    first = series[0]
    if not len(first):
        raise VectorisedError(f"{first.market}: no bars")
    for other in series[1:]:
        if other.interval_ms != first.interval_ms or not np.array_equal(other.open_ms, first.open_ms):
            raise VectorisedError(
                f"{other.market} and {first.market} are not aligned bar for bar; the vectorised path needs the "
                "same open times on every market"
            )
    return AlignedBars(
        markets=tuple(s.market for s in series),
        interval_ms=first.interval_ms,
        open_ms=first.open_ms.copy(),
        opens=np.stack([s.open / 10.0**s.scale for s in series]),
        closes=np.stack([s.close / 10.0**s.scale for s in series]),
    )


# -- fills ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VectorCosts:
    """One traded market's costs as floats: the taker fee rate, slippage as a fraction, latency in ms."""

    fee: float = 0.0
    slippage: float = 0.0
    latency_ms: int = 0

    def __post_init__(self) -> None:
        if self.fee < 0 or self.slippage < 0 or self.latency_ms < 0:
            raise VectorisedError("fee, slippage and latency must not be negative")


def fill_schedule(bars: AlignedBars, latency_ms: int) -> tuple[IntArray, IntArray]:
    """``(fill_bar, fill_step)``: ``fill_bar[d]`` is the bar at whose open an order decided at step ``d`` fills
    (``n`` when the data ends first); ``fill_step[i]`` the step at which a fill at bar ``i``'s open is booked
    (``fill_step[n] = n``)."""
    n = len(bars)
    open_ms, close_ms = bars.open_ms, bars.close_ms
    fill_bar = np.searchsorted(open_ms, close_ms + latency_ms, side="left").astype(np.int64)
    fill_step = np.empty(n + 1, dtype=np.int64)
    # The first step after the bar's open (a step at the open itself does not hold the bar): on aligned bars, the
    # step of that bar's own close, always later than the decision.
    fill_step[:n] = np.searchsorted(close_ms, open_ms, side="right")
    fill_step[n] = n
    return fill_bar, fill_step


# -- results --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Trades:
    """Round trips in time order. Steps and bars are indices of the aligned bars; ``n`` (the number of bars)
    means "never": an entry that did not fill, an exit not decided or not filled before the data ended."""

    decided: IntArray  # the entry's decision step
    side: IntArray  # +1 long, -1 short
    entry_bar: IntArray  # the entry fills at this bar's open
    entry_step: IntArray
    exit_decided: IntArray
    exit_bar: IntArray
    exit_step: IntArray
    entry_price: FloatArray  # slippage included
    exit_price: FloatArray  # nan when not exited
    quantity: FloatArray  # base units, unsigned
    cash_before: FloatArray  # the venue's cash when the entry was decided
    cash_holding: FloatArray  # the cash while the position is open (spot: what the buy left; perp: less the fee)
    cash_after: FloatArray  # after the exit (the cash before when not exited)

    def __len__(self) -> int:
        return len(self.decided)


@dataclass(frozen=True, eq=False)
class VectorRun:
    """One strategy's run: its trades and its NAV at every step (the engine's ``nav`` as floats)."""

    trades: Trades
    nav: FloatArray
    exposed: BoolArray
    step_ms: IntArray

    @property
    def final_nav(self) -> float:
        return float(self.nav[-1])


# -- hold -----------------------------------------------------------------------------------------------------


def hold_run(bars: AlignedBars, market: Market, *, cash: float, costs: VectorCosts) -> VectorRun:
    """``hold``: all the cash into ``market`` at the first bar's open (the engine's on_start order, decided
    ``latency_ms`` before that open), held to the end: ``q = cash / (O (1 + s) (1 + f))``, NAV ``q * close``."""
    n = len(bars)
    if n == 0:
        raise VectorisedError("no bars")
    j = bars.index(market)
    price = bars.opens[j, 0] * (1.0 + costs.slippage)
    quantity = cash / (price * (1.0 + costs.fee))
    nav = quantity * bars.closes[j]
    never = np.asarray([n], dtype=np.int64)
    trades = Trades(
        decided=np.asarray([-1], dtype=np.int64),
        side=np.asarray([1], dtype=np.int64),
        entry_bar=np.zeros(1, dtype=np.int64),
        entry_step=np.zeros(1, dtype=np.int64),
        exit_decided=never,
        exit_bar=never,
        exit_step=never,
        entry_price=np.asarray([price]),
        exit_price=np.asarray([np.nan]),
        quantity=np.asarray([quantity]),
        cash_before=np.asarray([cash]),
        cash_holding=np.zeros(1),
        cash_after=np.asarray([cash]),
    )
    return VectorRun(trades, nav, np.ones(n, dtype=np.bool_), bars.close_ms)


# -- leadlag --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Signals:
    """A signal over the steps: ``side`` (+1, -1, 0; ``n + 1`` long, the last 0) and ``following[k]``, the first
    step at or after ``k`` where it fires (``n`` if none); ``side_items`` is ``side`` for fast item reads."""

    side: np.ndarray[Any, np.dtype[np.int8]]
    following: array[int]
    side_items: array[int]


@dataclass(frozen=True, order=True)
class LeadLagPoint:
    """One point of a ``leadlag`` grid, as the strategy uses it (threshold and stop as the floats it compares)."""

    lookback: int
    threshold: float
    hold_bars: int
    stop: float
    size: float = 1.0

    def __post_init__(self) -> None:
        if self.lookback < 1 or self.hold_bars < 1:
            raise VectorisedError("lookback and hold_bars must be at least 1")
        if not (self.threshold > 0 and self.stop > 0 and 0 < self.size <= 1):
            raise VectorisedError("threshold and stop must be positive, size in (0, 1]")

    def json(self) -> dict[str, Any]:
        return {
            "lookback": self.lookback,
            "threshold": self.threshold,
            "hold_bars": self.hold_bars,
            "stop": self.stop,
            "size": self.size,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LeadLagPoint:
        return cls(
            lookback=int(data["lookback"]),
            threshold=float(data["threshold"]),
            hold_bars=int(data["hold_bars"]),
            stop=float(data["stop"]),
            size=float(data["size"]),
        )


class LeadLagArrays:
    """What every point of a ``leadlag`` sweep shares over the same bars: the fill schedule, the fill prices, and
    (cached) the leader's returns per lookback, the signals per (lookback, threshold), the stop hits per (stop,
    side) and the exit steps per (stop, hold, side). ``short``: the follower is a perpetual (entries both ways,
    perpetual accounting); otherwise spot, long only."""

    def __init__(
        self,
        bars: AlignedBars,
        *,
        leader: Market,
        follower: Market,
        costs: VectorCosts,
        short: bool,
        max_hold: int = 1,
    ) -> None:
        if leader == follower:
            raise VectorisedError("leader and follower must be different markets")
        self.bars = bars
        self.n = len(bars)
        self.follower = follower
        self.leader = bars.closes[bars.index(leader)]
        j = bars.index(follower)
        self.close = bars.closes[j]
        self.open = bars.opens[j]
        self.costs = costs
        self.short = short
        self.max_hold = max(1, max_hold)
        self.fill_bar, self.fill_step = fill_schedule(bars, costs.latency_ms)
        # The fill price at each bar's open, by the side of the fill (slippage against the order).
        self.buy_price = self.open * (1.0 + costs.slippage)
        self.sell_price = self.open * (1.0 - costs.slippage)
        self._returns: dict[int, FloatArray] = {}
        self._signals: dict[tuple[int, float], Signals] = {}
        self._stops: dict[tuple[float, int], IntArray] = {}
        self._exit_steps_cache: dict[tuple[float, int, int], array[int]] = {}

    # -- shared arrays ----------------------------------------------------------------------------------------

    def returns(self, lookback: int) -> FloatArray:
        """The leader's return over ``lookback`` bars at each step, as the strategy computes it; nan before."""
        cached = self._returns.get(lookback)
        if cached is None:
            cached = np.full(self.n, np.nan)
            if lookback < self.n:
                cached[lookback:] = self.leader[lookback:] / self.leader[:-lookback] - 1.0
            if len(self._returns) >= 8:
                self._returns.pop(next(iter(self._returns)))
            self._returns[lookback] = cached
        return cached

    def signals(self, lookback: int, threshold: float) -> Signals:
        """Where the signal fires (long above ``threshold``; short below minus it, perpetual only), and for every
        step the next step at or after it where it fires."""
        key = (lookback, threshold)
        cached = self._signals.get(key)
        if cached is None:
            n, ret = self.n, self.returns(lookback)
            side = np.zeros(n + 1, dtype=np.int8)
            with np.errstate(invalid="ignore"):
                side[:n][ret > threshold] = 1
                if self.short:
                    side[:n][ret < -threshold] = -1
            fires = np.where(side != 0, np.arange(n + 1), n)
            following = np.minimum.accumulate(fires[::-1])[::-1].astype(np.int64)
            cached = Signals(side, array("q", following.tobytes()), array("b", side.tobytes()))
            if len(self._signals) >= 4:
                self._signals.pop(next(iter(self._signals)))
            self._signals[key] = cached
        return cached

    def stop_offsets(self, stop: float, side: int) -> IntArray:
        """For a fill at bar ``i`` (booked at step ``i``, where the strategy first sees it), the first step ``i + o``
        (``0 <= o < max_hold - 1``) at which the close has moved ``stop`` against the fill price; ``max_hold`` when
        none does."""
        key = (stop, side)
        cached = self._stops.get(key)
        if cached is not None:
            return cached
        n, close, window = self.n, self.close, self.max_hold
        price = self.buy_price if side > 0 else self.sell_price
        offsets = np.full(n + 1, window, dtype=np.int64)
        with np.errstate(invalid="ignore", divide="ignore"):
            for o in range(min(window - 2, n - 1), -1, -1):  # the smallest offset wins: write it last
                move = close[o:] / price[: n - o] - 1.0
                hit = (-move >= stop) if side > 0 else (move >= stop)
                offsets[: n - o][hit] = o
        if len(self._stops) >= 8:
            self._stops.pop(next(iter(self._stops)))
        self._stops[key] = offsets
        return offsets

    # -- one point --------------------------------------------------------------------------------------------

    def exits(self, point: LeadLagPoint, side: int, decided: IntArray) -> tuple[IntArray, IntArray, IntArray]:
        """For entries on ``side`` decided at the steps ``decided``: ``(exit_decided, exit_bar, exit_step)``, each
        ``n`` when it never comes (the entry or the exit does not fill, or the exit is not decided, before the data
        ends). The exit is decided at the close of the ``hold_bars``-th bar from the fill's, or at the first earlier
        step (from the fill's) whose close moved ``stop`` against the fill price; it fills like any order."""
        n = self.n
        entry_bar = self.fill_bar[decided]
        offsets = self.stop_offsets(point.stop, side)[entry_bar]
        exit_decided = entry_bar + np.minimum(offsets, point.hold_bars - 1)
        exit_decided[(entry_bar >= n) | (exit_decided >= n)] = n
        exit_bar = np.full(len(decided), n, dtype=np.int64)
        known = exit_decided < n
        exit_bar[known] = self.fill_bar[exit_decided[known]]
        return exit_decided, exit_bar, self.fill_step[exit_bar]

    def _exit_steps(self, point: LeadLagPoint, side: int) -> array[int]:
        key = (point.stop, point.hold_bars, side)
        cached = self._exit_steps_cache.get(key)
        if cached is None:
            _, _, steps = self.exits(point, side, np.arange(self.n, dtype=np.int64))
            cached = array("q", np.append(steps, self.n).tobytes())
            if len(self._exit_steps_cache) >= 32:
                self._exit_steps_cache.pop(next(iter(self._exit_steps_cache)))
            self._exit_steps_cache[key] = cached
        return cached

    def trades(self, point: LeadLagPoint, *, cash: float) -> Trades:
        """The round trips of ``point`` starting with ``cash`` on the follower's venue."""
        if point.hold_bars > self.max_hold:
            raise VectorisedError(f"hold_bars {point.hold_bars} above the arrays' max_hold {self.max_hold}")
        n = self.n
        signals = self.signals(point.lookback, point.threshold)
        following, sides = signals.following, signals.side_items
        long_exit = self._exit_steps(point, 1)
        # The walk: take the next signal, skip to the step its exit fills (flat again), take the next from there.
        chain = array("q")
        take = chain.append
        at = following[0]
        if self.short:
            short_exit = self._exit_steps(point, -1)
            while at < n:
                take(at)
                at = following[long_exit[at] if sides[at] > 0 else short_exit[at]]
        else:
            while at < n:
                take(at)
                at = following[long_exit[at]]
        decided = np.frombuffer(chain, dtype=np.int64) if len(chain) else np.zeros(0, dtype=np.int64)
        side = signals.side[decided].astype(np.int64)
        entry_bar = self.fill_bar[decided]
        exit_decided = np.full(len(decided), n, dtype=np.int64)
        exit_bar = np.full(len(decided), n, dtype=np.int64)
        for sign in (1, -1) if self.short else (1,):
            mine = side == sign
            exit_decided[mine], exit_bar[mine], _ = self.exits(point, sign, decided[mine])
        return self._book(point, cash, decided, side, entry_bar, exit_decided, exit_bar)

    def _book(
        self,
        point: LeadLagPoint,
        cash: float,
        decided: IntArray,
        side: IntArray,
        entry_bar: IntArray,
        exit_decided: IntArray,
        exit_bar: IntArray,
    ) -> Trades:
        n, fee, size = self.n, self.costs.fee, point.size
        entered = np.minimum(entry_bar, n - 1)
        exited = np.minimum(exit_bar, n - 1)
        entry_price = np.where(side > 0, self.buy_price[entered], self.sell_price[entered])
        exit_price = np.where(side > 0, self.sell_price[exited], self.buy_price[exited])
        exit_price[exit_bar >= n] = np.nan
        if self.short:  # a perpetual: cash * size / close base units, fees paid from cash, PnL realised on exit
            per_cash = size / self.close[decided]
            growth = 1.0 - per_cash * (fee * (entry_price + exit_price) - side * (exit_price - entry_price))
        else:  # spot: size of the cash buys at price * (1 + fee) and the exit sells net of the fee
            per_cash = size / (entry_price * (1.0 + fee))
            growth = 1.0 - size + per_cash * exit_price * (1.0 - fee)
        growth[exit_bar >= n] = 1.0
        after = cash * np.cumprod(growth)
        before = np.concatenate(([cash], after[:-1]))
        if self.short:
            # The strategy enters only with cash > 0; the cash stays where it is while flat, so nothing follows.
            broke = np.flatnonzero(before <= 0)
            if len(broke):
                cut = int(broke[0])
                decided, side, entry_bar, exit_decided, exit_bar = (
                    a[:cut] for a in (decided, side, entry_bar, exit_decided, exit_bar)
                )
                entry_price, exit_price, per_cash, before, after = (
                    a[:cut] for a in (entry_price, exit_price, per_cash, before, after)
                )
        quantity = before * per_cash
        # Spot: what the buy left of the cash; perpetual: the cash less the entry's fee.
        holding = before - quantity * entry_price * fee if self.short else before * (1.0 - size)
        return Trades(
            decided=decided,
            side=side,
            entry_bar=entry_bar,
            entry_step=self.fill_step[entry_bar],
            exit_decided=exit_decided,
            exit_bar=exit_bar,
            exit_step=self.fill_step[exit_bar],
            entry_price=entry_price,
            exit_price=exit_price,
            quantity=quantity,
            cash_before=before,
            cash_holding=holding,
            cash_after=after,
        )

    def nav_at(self, trades: Trades, steps: IntArray, *, cash: float) -> FloatArray:
        """NAV at ``steps`` (sorted step indices): cash while flat; while holding, the cash left plus the position
        marked at the step's close (spot), or the cash after the entry fee plus the open PnL (perpetual)."""
        if not len(trades):
            return np.full(len(steps), cash)
        last = np.searchsorted(trades.entry_step, steps, side="right") - 1
        holding = last >= 0
        at = np.maximum(last, 0)
        holding &= steps < trades.exit_step[at]
        flat = np.concatenate(([cash], trades.cash_after))[last + 1]
        close = self.close[steps]
        if self.short:
            marked = trades.side[at] * trades.quantity[at] * (close - trades.entry_price[at])
        else:
            marked = trades.quantity[at] * close
        return np.where(holding, trades.cash_holding[at] + marked, flat)

    def run(self, point: LeadLagPoint, *, cash: float) -> VectorRun:
        """One point's trades and NAV at every step."""
        trades = self.trades(point, cash=cash)
        steps = np.arange(self.n, dtype=np.int64)
        nav = self.nav_at(trades, steps, cash=cash)
        exposed = np.zeros(self.n + 1, dtype=np.int64)
        filled = trades.entry_step < self.n
        np.add.at(exposed, trades.entry_step[filled], 1)
        np.add.at(exposed, trades.exit_step[filled], -1)
        return VectorRun(trades, nav, np.cumsum(exposed[: self.n]) > 0, self.bars.close_ms)


# -- sweeps ---------------------------------------------------------------------------------------------------


def sample_steps(close_ms: IntArray, period_ms: int) -> IntArray:
    """The last step of each period (UTC days for ``DAY_MS``): a bar closing on the boundary ends the period
    before it."""
    if not len(close_ms):
        return np.zeros(0, dtype=np.int64)
    period = (close_ms - 1) // period_ms
    return np.flatnonzero(np.diff(period, append=period[-1] + 1)).astype(np.int64)


@dataclass(frozen=True)
class PointSummary:
    """One grid point's result: final NAV, trades, exposure (share of steps holding), and statistics of the NAV
    sampled at the end of each period (returns from the starting cash)."""

    point: LeadLagPoint
    final_nav: float
    trades: int
    exposure: float
    total_return: float
    sharpe: float
    max_drawdown: float
    periods: int

    def json(self) -> dict[str, Any]:
        return {
            "point": self.point.json(),
            "final_nav": number_json(self.final_nav),
            "trades": self.trades,
            "exposure": number_json(self.exposure),
            "total_return": number_json(self.total_return),
            "sharpe": number_json(self.sharpe),
            "max_drawdown": number_json(self.max_drawdown),
            "periods": self.periods,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PointSummary:
        def number(value: float | None) -> float:
            return math.nan if value is None else float(value)

        return cls(
            point=LeadLagPoint.from_json(data["point"]),
            final_nav=number(data["final_nav"]),
            trades=int(data["trades"]),
            exposure=number(data["exposure"]),
            total_return=number(data["total_return"]),
            sharpe=number(data["sharpe"]),
            max_drawdown=number(data["max_drawdown"]),
            periods=int(data["periods"]),
        )


def number_json(value: float) -> float | None:
    """A float for JSON: ``None`` for nan or an infinity (JSON, and PostgreSQL's jsonb, have neither)."""
    return value if math.isfinite(value) else None


def nav_statistics(nav: FloatArray, *, cash: float, periods_per_year: float) -> tuple[float, float, float]:
    """``(total_return, sharpe, max_drawdown)`` of a sampled NAV series starting from ``cash``: returns period to
    period (the first from ``cash``); Sharpe ``mean / std (ddof 1) * sqrt(periods_per_year)`` with rf 0 (nan with
    fewer than two returns or no variation); max drawdown as a negative fraction of the running peak (wealth
    anchored at the starting cash)."""
    if not len(nav):
        return 0.0, math.nan, 0.0
    wealth = np.concatenate(([cash], nav))
    returns = wealth[1:] / wealth[:-1] - 1.0
    total = float(wealth[-1] / cash - 1.0)
    sharpe = math.nan
    if len(returns) > 1:
        deviation = float(np.std(returns, ddof=1))
        if deviation > 0:
            sharpe = float(np.mean(returns)) / deviation * math.sqrt(periods_per_year)
    peak = np.maximum.accumulate(wealth)
    drawdown = float(np.min(wealth / peak - 1.0))
    return total, sharpe, drawdown


@dataclass
class SweepKernel:
    """Evaluates many ``leadlag`` points over the same bars, sharing what they share (see :class:`LeadLagArrays`).
    Points are visited grouped by lookback, threshold and stop so each shared array is made once."""

    arrays: LeadLagArrays
    cash: float
    period_ms: int = DAY_MS
    samples: IntArray = field(init=False)
    periods_per_year: float = field(init=False)

    def __post_init__(self) -> None:
        self.samples = sample_steps(self.arrays.bars.close_ms, self.period_ms)
        self.periods_per_year = YEAR_DAYS * DAY_MS / self.period_ms

    def evaluate(self, point: LeadLagPoint) -> PointSummary:
        arrays, n = self.arrays, self.arrays.n
        trades = arrays.trades(point, cash=self.cash)
        nav = arrays.nav_at(trades, self.samples, cash=self.cash)
        final = float(nav[-1]) if len(nav) else self.cash
        filled = trades.entry_step < n
        held = int(np.sum(np.minimum(trades.exit_step[filled], n) - trades.entry_step[filled]))
        total, sharpe, drawdown = nav_statistics(nav, cash=self.cash, periods_per_year=self.periods_per_year)
        return PointSummary(point, final, len(trades), held / n if n else 0.0, total, sharpe, drawdown, len(nav))

    def benchmark(self) -> dict[str, Any]:
        """``hold`` on the follower over the same bars and costs (the benchmark every report shows): final NAV, the
        statistics of its sampled NAV, and that NAV (``[close_ms, nav]`` at each sample)."""
        arrays = self.arrays
        follower = arrays.follower
        run = hold_run(arrays.bars, follower, cash=self.cash, costs=arrays.costs)
        nav = run.nav[self.samples]
        total, sharpe, drawdown = nav_statistics(nav, cash=self.cash, periods_per_year=self.periods_per_year)
        return {
            "strategy": "hold",
            "market": str(follower),
            "final_nav": number_json(float(run.nav[-1])),
            "total_return": number_json(total),
            "sharpe": number_json(sharpe),
            "max_drawdown": number_json(drawdown),
            "nav": [[int(t), float(v)] for t, v in zip(run.step_ms[self.samples], nav, strict=True)],
        }

    def sweep(
        self, points: Iterable[LeadLagPoint], progress: Callable[[int, int], None] | None = None
    ) -> list[PointSummary]:
        """Each point's summary, in the order given."""
        given = list(points)
        order = sorted(range(len(given)), key=lambda k: (given[k].lookback, given[k].threshold, given[k].stop))
        results: list[PointSummary | None] = [None] * len(given)
        for done, k in enumerate(order, start=1):
            results[k] = self.evaluate(given[k])
            if progress is not None:
                progress(done, len(given))
        return [r for r in results if r is not None]


def leadlag_grid(
    *,
    lookbacks: Sequence[int],
    thresholds: Sequence[float],
    hold_bars: Sequence[int],
    stops: Sequence[float],
    sizes: Sequence[float] = (1.0,),
) -> list[LeadLagPoint]:
    """Every combination, in a fixed order (lookback, threshold, hold, stop, size)."""
    return [
        LeadLagPoint(lb, th, hb, st, sz)
        for lb in lookbacks
        for th in thresholds
        for hb in hold_bars
        for st in stops
        for sz in sizes
    ]


# -- from the engine's objects --------------------------------------------------------------------------------


def vector_costs(config: EngineConfig, market: Market) -> VectorCosts:
    """The engine's cost model for ``market`` as floats (taker fills only)."""
    costs = config.costs
    return VectorCosts(
        fee=float(costs.fees(market).taker),
        slippage=float(costs.slippage_bps * BPS),
        latency_ms=costs.latency_ms,
    )


def vector_supported(strategy: Strategy[Any], config: EngineConfig) -> None:
    """Raise :class:`VectorisedError` unless the run is one this path reproduces: ``hold`` or ``leadlag``, and no
    risk limit that could refuse or flatten (position, notional, daily loss, stale data, price band, a family cap,
    gross leverage below 1)."""
    if strategy.name not in ("hold", "leadlag"):
        raise VectorisedError(f"no vectorised path for strategy {strategy.name!r}")
    limits = config.limits
    binding = [
        name
        for name, on in (
            ("max_position", bool(limits.max_position)),
            ("max_notional", bool(limits.max_notional)),
            ("max_daily_loss", limits.max_daily_loss is not None),
            ("stale_after_ms", limits.stale_after_ms is not None),
            ("price_band", limits.price_band is not None),
            ("family cap", strategy.family in limits.family_caps),
            ("max_gross_leverage", limits.max_gross_leverage is not None and limits.max_gross_leverage < 1),
        )
        if on
    ]
    if binding:
        raise VectorisedError(f"risk limits the vectorised path does not model: {', '.join(binding)}")


def vectorised_run(strategy: Strategy[Any], data: MarketData, config: EngineConfig) -> VectorRun:
    """The event-driven engine's run of ``strategy`` (``hold`` or ``leadlag``) over ``data`` under ``config``,
    computed on arrays. Perpetual funding is not modelled (the engine applies it only when given rates)."""
    vector_supported(strategy, config)
    bars = aligned_bars(data)
    cash = float(config.cash)
    traded = strategy.traded()[0]
    costs = vector_costs(config, traded)
    if strategy.name == "hold":
        return hold_run(bars, traded, cash=cash, costs=costs)
    params = strategy.params
    point = LeadLagPoint(
        lookback=params.lookback,
        threshold=float(params.threshold),
        hold_bars=params.hold_bars,
        stop=float(params.stop),
        size=float(params.size),
    )
    leader: Market = strategy.leader  # type: ignore[attr-defined]
    arrays = LeadLagArrays(
        bars,
        leader=leader,
        follower=traded,
        costs=costs,
        short=traded.kind is MarketKind.PERP,
        max_hold=point.hold_bars,
    )
    return arrays.run(point, cash=cash)
