"""The single source of truth behind every fake venue: deterministic candles for a market.

A :class:`Market` generates its candles from integer arithmetic only: a 64-bit mix of (venue, market type,
symbol, interval) and the candle's place on a repeating path (its index modulo ``PATH_LENGTH``) gives the price
level; a candle opens at the previous level and closes at its own, so consecutive candles chain like real ones.
Same inputs, same candles, always — the REST fakes and the archive fake read the same truth, so a zip and a REST
page agree to the last digit. Formatted values are kept in a table per market, so serving is cheap after the
first pass over the path.

Units: times are integer milliseconds since the epoch, UTC; prices and volumes are the venue's exact decimal
text (Binance spot: 8 decimals "0.01634790"; Binance USD-M: the tick's and the lot's decimals; Bybit and
Coinbase: plain text without trailing zeros, "17071" / "17055.5").
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal

from marketdata.core.candles import Candle
from marketdata.core.intervals import DAY_MS, Interval
from marketdata.core.venues import MarketType, Venue

_MASK = (1 << 64) - 1
# The path repeats every PATH_LENGTH candles: candle values are a function of the candle's index modulo it, so a
# market's formatted values are computed once and then served from a table (a benchmark pulls millions of rows).
PATH_LENGTH = 1 << 16


def mix64(x: int) -> int:
    """A 64-bit integer hash (the splitmix64 finaliser): cheap, well spread, deterministic across processes."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def decimals_of(step: str) -> int:
    """``"0.0100"`` → 2: the number of decimals that matter in a tick or lot size."""
    exponent = Decimal(step).normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    return max(0, -exponent)


def units_text(units: int, decimals: int) -> str:
    """Integer ``units`` of ``10**-decimals`` as fixed-point text: ``(1634790, 8)`` → ``"0.01634790"``."""
    if decimals == 0:
        return str(units)
    digits = str(units).rjust(decimals + 1, "0")
    return f"{digits[:-decimals]}.{digits[-decimals:]}"


def plain_text(units: int, decimals: int) -> str:
    """Like :func:`units_text` without trailing zeros (Bybit, Coinbase): ``(1705550, 2)`` → ``"17055.5"``."""
    text = units_text(units, decimals)
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def fixed_formatter(units_decimals: int, out_decimals: int, *, strip: bool = False) -> Callable[[int], str]:
    """A fast formatter of non-negative integer units of ``10**-units_decimals`` as text with ``out_decimals``
    places (``strip``: without trailing zeros), for the hot path of page generation."""
    scale = 10 ** (out_decimals - units_decimals)
    if out_decimals == 0:
        return str
    modulus = 10**out_decimals
    spec = f"0{out_decimals}d"

    def fixed(units: int) -> str:
        whole, frac = divmod(units * scale, modulus)
        return f"{whole}.{frac:{spec}}"

    def stripped(units: int) -> str:
        whole, frac = divmod(units * scale, modulus)
        return f"{whole}.{frac:{spec}}".rstrip("0").rstrip(".") if frac else str(whole)

    return stripped if strip else fixed


def text_units(text: str, decimals: int) -> int:
    """The inverse of :func:`units_text` and :func:`plain_text` at ``decimals`` places."""
    whole, _, frac = text.partition(".")
    return int(whole + frac.ljust(decimals, "0")[:decimals]) if decimals else int(whole)


@dataclass
class Market:
    """One market on one venue, with the candles it would serve.

    ``listed_ms``: the listing moment; the first candle of each interval is the one containing it.
    ``holes``: ``[start_ms, end_ms)`` ranges with no trading (Coinbase omits no-trade periods; maintenance
    windows anywhere): a candle lying wholly inside a hole does not exist. ``price``: the reference level.
    """

    venue: Venue
    market_type: MarketType
    venue_symbol: str
    listed_ms: int
    base: str = "BTC"
    quote: str = "USDT"
    tick_size: str = "0.01"
    lot_size: str = "0.00001"
    price: str = "30000"
    holes: list[tuple[int, int]] = field(default_factory=list)
    delisted_ms: int | None = None  # no candle opens at or after it; the market shows as not trading
    # (start_ms, end_ms, revision): candles opening in the range have revised volumes (an archive re-publish).
    revisions: list[tuple[int, int, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.price_decimals = decimals_of(self.tick_size)
        self.qty_decimals = decimals_of(self.lot_size)
        tick = text_units(self.tick_size, self.price_decimals)
        self._tick_units = max(1, tick)
        self._base_units = text_units(str(Decimal(self.price)), self.price_decimals)
        self._seeds: dict[str, int] = {}
        self._fmt_price, self._fmt_qty = self._formatters()
        # (interval code, path index) → the closed candle's texts; and the same for Binance's extra columns
        self._table: dict[tuple[str, int], tuple[str, str, str, str, str]] = {}
        self.extras_table: dict[tuple[str, int, str], tuple[str, int, str, str]] = {}
        self.turnover_table: dict[tuple[str, str], str] = {}  # (close, volume) → Bybit's turnover text

    @property
    def settle(self) -> str | None:
        return self.quote if self.market_type is MarketType.PERP else None

    @property
    def active(self) -> bool:
        return self.delisted_ms is None

    # -- generation ---------------------------------------------------------------------------------------------

    def _seed(self, interval: Interval) -> int:
        seed = self._seeds.get(interval.code)
        if seed is None:
            key = f"{self.venue}|{self.market_type}|{self.venue_symbol}|{interval.code}".encode()
            seed = int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big")
            self._seeds[interval.code] = seed
        return seed

    def _level(self, seed: int, k: int) -> int:
        """The price level (in ticks of ``10**-price_decimals``) at path index ``k``, on the tick grid: a slow
        triangle wave over the path plus hashed noise."""
        base = self._base_units
        amplitude = base // 10
        half = PATH_LENGTH // 2
        wave = (k if k < half else PATH_LENGTH - k) * 2 * amplitude // half - amplitude
        spread = base // 200 + 1
        noise = mix64(seed ^ k) % (2 * spread + 1) - spread
        level = max(self._tick_units, base + wave + noise)
        return level - level % self._tick_units

    @staticmethod
    def path_index(interval: Interval, t: int) -> int:
        """Where the candle opening at ``t`` sits on the repeating path."""
        step = interval.length_ms or DAY_MS  # calendar months: day numbers are distinct per month
        return ((t - interval.anchor_ms) // step) % PATH_LENGTH

    def _first_open(self, interval: Interval) -> int:
        return interval.floor(self.listed_ms)

    def _last_open(self, interval: Interval, now_ms: int) -> int:
        """The open time of the newest candle that exists at ``now_ms`` (the open one)."""
        last = interval.floor(now_ms)
        if self.delisted_ms is not None and last >= self.delisted_ms:
            last = interval.floor(self.delisted_ms - 1)
        return last

    def _in_hole(self, interval: Interval, t: int) -> tuple[int, int] | None:
        close = interval.close_time(t)
        for start, end in self.holes:
            if start <= t and close <= end:
                return start, end
        return None

    def open_times(
        self, interval: Interval, first_ms: int, last_ms: int, now_ms: int, *, newest_first: bool = False
    ) -> Iterator[int]:
        """Open times of existing candles with ``first_ms`` ≤ open time ≤ ``last_ms`` (both inclusive)."""
        low = max(interval.ceil(first_ms), self._first_open(interval))
        high = min(interval.floor(last_ms), self._last_open(interval, now_ms))
        if low > high:
            return
        holes = self.holes
        if not newest_first:
            t = low
            while t <= high:
                hole = self._in_hole(interval, t) if holes else None
                if hole is None:
                    yield t
                    t = interval.next_open(t)
                else:
                    t = max(interval.next_open(t), interval.floor(hole[1]))
        else:
            t = high
            while t >= low:
                hole = self._in_hole(interval, t) if holes else None
                if hole is None:
                    yield t
                    t = interval.floor(t - 1)
                else:
                    # the candle holding the instant before the hole is the first one not wholly inside it
                    t = min(interval.floor(t - 1), interval.floor(hole[0] - 1))

    def candle_at(self, interval: Interval, t: int, now_ms: int) -> Candle:
        """The candle opening at ``t`` as seen at ``now_ms`` (open, with its values so far, if it contains it)."""
        return self._candle(interval, self._seed(interval), t, now_ms)

    def _values(self, interval: Interval, seed: int, t: int) -> tuple[int, int, int, int, int]:
        """(open, close, high extra, low extra, volume) in integer units for the candle opening at ``t``."""
        k = self.path_index(interval, t)
        open_units = self._level(seed, self.path_index(interval, interval.floor(t - 1)))
        close_units = self._level(seed, k)
        h = mix64(seed ^ (k * 31 + 7))
        spread = self._base_units // 400 + 1
        hi_extra = (h & 0xFFFF) % spread
        lo_extra = ((h >> 16) & 0xFFFF) % spread
        volume = 1 + ((h >> 32) % (10 ** (self.qty_decimals + 2)))
        return open_units, close_units, hi_extra, lo_extra, volume

    def _revision(self, t: int) -> int:
        return sum(revision for start, end, revision in self.revisions if start <= t < end)

    def _candle(self, interval: Interval, seed: int, t: int, now_ms: int) -> Candle:
        close_time = interval.close_time(t)
        closed = now_ms >= close_time
        revision = self._revision(t) if self.revisions else 0
        if closed and not revision:
            key = (interval.code, self.path_index(interval, t))
            texts = self._table.get(key)
            if texts is None:
                texts = self._table[key] = self._texts(*self._values(interval, seed, t))
            return Candle(t, *texts)
        open_units, close_units, hi_extra, lo_extra, volume = self._values(interval, seed, t)
        volume += revision
        if not closed:
            # The open candle: its values so far, moving from the open towards the final close.
            done, length = now_ms - t, close_time - t
            close_units = open_units + (close_units - open_units) * done // length
            hi_extra = hi_extra * done // length
            lo_extra = lo_extra * done // length
            volume = volume * done // length
        return Candle(t, *self._texts(open_units, close_units, hi_extra, lo_extra, volume), closed=closed)

    def _texts(
        self, open_units: int, close_units: int, hi_extra: int, lo_extra: int, volume: int
    ) -> tuple[str, str, str, str, str]:
        high = max(open_units, close_units) + hi_extra - hi_extra % self._tick_units
        low = min(open_units, close_units) - lo_extra + lo_extra % self._tick_units
        low = max(low, min(open_units, close_units, self._tick_units))
        fmt_price, fmt_qty = self._fmt_price, self._fmt_qty
        return fmt_price(open_units), fmt_price(high), fmt_price(low), fmt_price(close_units), fmt_qty(volume)

    def _formatters(self) -> tuple[Callable[[int], str], Callable[[int], str]]:
        pd, qd = self.price_decimals, self.qty_decimals
        if self.venue is Venue.BINANCE and self.market_type is MarketType.SPOT:
            # Binance spot writes every price and quantity with 8 decimals.
            return fixed_formatter(pd, 8), fixed_formatter(qd, 8)
        if self.venue is Venue.BINANCE:
            return fixed_formatter(pd, pd), fixed_formatter(qd, qd)
        return fixed_formatter(pd, pd, strip=True), fixed_formatter(qd, qd, strip=True)

    def candles(self, interval: Interval, start_ms: int, end_ms: int, now_ms: int) -> list[Candle]:
        """Every candle with ``start_ms`` ≤ open time < ``end_ms`` that exists at ``now_ms``, ascending."""
        return self.select(interval, start_ms, end_ms - 1, now_ms)

    def select(
        self,
        interval: Interval,
        first_ms: int,
        last_ms: int,
        now_ms: int,
        limit: int | None = None,
        *,
        newest_first: bool = False,
    ) -> list[Candle]:
        """Up to ``limit`` candles with open time in ``[first_ms, last_ms]`` (inclusive), taken from the oldest end
        (ascending) or, with ``newest_first``, from the newest end (descending), as a venue's page would be."""
        seed = self._seed(interval)
        out: list[Candle] = []
        for t in self.open_times(interval, first_ms, last_ms, now_ms, newest_first=newest_first):
            if limit is not None and len(out) >= limit:
                break
            out.append(self._candle(interval, seed, t, now_ms))
        return out


def binance_kline_extras(market: Market, interval: Interval, candle: Candle) -> tuple[int, str, int, str, str]:
    """The columns Binance adds to a kline, derived from the candle: (close time ms, quote volume, number of
    trades, taker buy base volume, taker buy quote volume). Fixed decimals like the venue's own."""
    close_time = interval.close_time(candle.open_time) - 1
    key = (interval.code, Market.path_index(interval, candle.open_time), candle.volume)
    cached = market.extras_table.get(key) if candle.closed else None
    if cached is None:
        cached = _extras(market, candle)
        if candle.closed:
            market.extras_table[key] = cached
    quote, trades, taker_base, taker_quote = cached
    return close_time, quote, trades, taker_base, taker_quote


def _extras(market: Market, candle: Candle) -> tuple[str, int, str, str]:
    qd, pd = market.qty_decimals, market.price_decimals
    spot = market.market_type is MarketType.SPOT
    vol_decimals = 8 if spot else qd
    volume = text_units(candle.volume, vol_decimals)
    close = text_units(candle.close, 8 if spot else pd)
    price_decimals = 8 if spot else pd
    quote_decimals = 8 if spot else max(pd, 5)
    # quote volume ~ volume * close, truncated to the venue's quote decimals (exact integer arithmetic)
    shift = vol_decimals + price_decimals - quote_decimals
    quote = volume * close // 10**shift if shift >= 0 else volume * close * 10**-shift
    h = mix64(close ^ volume)
    share = h % 17  # taker share in 16ths
    trades = 0 if volume == 0 else 1 + (h >> 8) % 5000
    return (
        units_text(quote, quote_decimals),
        trades,
        units_text(volume * share // 16, vol_decimals),
        units_text(quote * share // 16, quote_decimals),
    )
