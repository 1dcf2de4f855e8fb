"""The three venues' kline and instrument clients, and the perpetual venues' funding-rate clients, over
:class:`RestTransport`.

Each client fetches one window of candles per call (the window planned by ``marketdata.core.paging`` to hold at
most ``klines_limit`` candles); concurrency and storage are the downloader's business. Base URLs are settings
(``BINANCE_REST_URL``, ``BINANCE_FUTURES_REST_URL``, ``BYBIT_REST_URL``, ``COINBASE_REST_URL``).

Why not ccxt's ``fetch_ohlcv``: it returns floats (the venue's decimal text is lost, and Coinbase's JSON numbers
with it), and its throttle does not read Binance's ``X-MBX-USED-WEIGHT-1M``. The unified symbols follow ccxt.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from marketdata.core import binance, bybit, coinbase
from marketdata.core.candle_rows import CandleRows
from marketdata.core.funding import FundingEvent, funding_page_rest
from marketdata.core.intervals import interval_get
from marketdata.core.rest import InstrumentInfo, RestRequest
from marketdata.core.venues import MarketType, Venue
from marketdata.exchanges.limits import FixedWindowBudget, RateLimiter, SlidingWindowLimiter
from marketdata.exchanges.transport import RestTransport, RetryPolicy, TransportStats


class KlineClient(Protocol):
    venue: Venue
    market_type: MarketType
    klines_limit: int
    transport: RestTransport

    async def klines(self, venue_symbol: str, interval: str, start_ms: int, end_ms: int, now_ms: int) -> CandleRows:
        """The candles opening in ``[start_ms, end_ms)``, ascending, checked, as COPY rows; the window must hold
        ≤ klines_limit."""
        ...

    async def instruments(self) -> list[InstrumentInfo]: ...


class BinanceClient:
    """Binance spot (``/api/v3``) or USD-M perpetuals (``/fapi/v1``): separate hosts, separate weight budgets."""

    venue = Venue.BINANCE

    def __init__(self, market_type: MarketType, transport: RestTransport):
        self.market_type = market_type
        self.transport = transport
        self.klines_limit = binance.KLINES_LIMIT[market_type]

    async def klines(self, venue_symbol: str, interval: str, start_ms: int, end_ms: int, now_ms: int) -> CandleRows:
        request = binance.klines_request(self.market_type, venue_symbol, interval, start_ms, end_ms, self.klines_limit)
        body = await self.transport.get(request)
        return binance.klines_rows(body, interval=interval_get(interval), now_ms=now_ms)

    async def instruments(self) -> list[InstrumentInfo]:
        body = await self.transport.get(binance.exchange_info_request(self.market_type))
        return binance.instruments_parse(body, self.market_type)


class BybitClient:
    """Bybit v5 market data, ``category=spot`` or ``linear``; one IP budget for both."""

    venue = Venue.BYBIT

    def __init__(self, market_type: MarketType, transport: RestTransport):
        self.market_type = market_type
        self.transport = transport
        self.klines_limit = bybit.KLINES_LIMIT

    async def klines(self, venue_symbol: str, interval: str, start_ms: int, end_ms: int, now_ms: int) -> CandleRows:
        request = bybit.klines_request(self.market_type, venue_symbol, interval, start_ms, end_ms, self.klines_limit)
        body = await self.transport.get(request)
        return bybit.klines_rows(body, interval=interval_get(interval), now_ms=now_ms)

    async def instruments(self) -> list[InstrumentInfo]:
        infos: list[InstrumentInfo] = []
        cursor: str | None = None
        while True:
            body = await self.transport.get(bybit.instruments_request(self.market_type, cursor))
            page, cursor = bybit.instruments_parse(body, self.market_type)
            infos.extend(page)
            if not cursor:
                return infos


class CoinbaseClient:
    """Coinbase Exchange public candles (300 per request, newest first, no row for a period without trades)."""

    venue = Venue.COINBASE
    market_type = MarketType.SPOT

    def __init__(self, market_type: MarketType, transport: RestTransport):
        if market_type is not MarketType.SPOT:
            raise ValueError("Coinbase Exchange serves spot products only")
        self.transport = transport
        self.klines_limit = coinbase.KLINES_LIMIT

    async def klines(self, venue_symbol: str, interval: str, start_ms: int, end_ms: int, now_ms: int) -> CandleRows:
        request = coinbase.klines_request(self.market_type, venue_symbol, interval, start_ms, end_ms, self.klines_limit)
        body = await self.transport.get(request)
        return coinbase.klines_rows(body, interval=interval_get(interval), now_ms=now_ms)

    async def instruments(self) -> list[InstrumentInfo]:
        return coinbase.instruments_parse(await self.transport.get(coinbase.products_request()))


class FundingClient(Protocol):
    venue: Venue
    funding_limit: int
    transport: RestTransport

    async def funding_rates(self, venue_symbol: str, start_ms: int, end_ms: int) -> list[FundingEvent]:
        """Every settled funding event in ``[start_ms, end_ms)``, ascending, checked (as many pages as it takes)."""
        ...


FundingRequest = Callable[[str, int, int, int], RestRequest]
FundingParse = Callable[..., list[FundingEvent]]


async def _funding_pages(
    transport: RestTransport,
    request: FundingRequest,
    parse: FundingParse,
    venue_symbol: str,
    window: tuple[int, int],
    limit: int,
    *,
    newest_first: bool,
) -> list[FundingEvent]:
    """Ask for ``window`` and, while a page comes back full, for what it left (see ``funding_page_rest``)."""
    events: list[FundingEvent] = []
    rest: tuple[int, int] | None = window
    while rest is not None:
        start, end = rest
        body = await transport.get(request(venue_symbol, start, end, limit))
        page = parse(body, venue_symbol=venue_symbol, start_ms=start, end_ms=end)
        events.extend(page)
        rest = funding_page_rest(rest, page, limit, newest_first=newest_first)
    return sorted(events, key=lambda event: event.time_ms)


class BinanceFundingClient:
    """USD-M ``/fapi/v1/fundingRate``: oldest first, 1000 a page, a budget of its own (500 requests per 5 min)."""

    venue = Venue.BINANCE
    funding_limit = binance.FUNDING_LIMIT

    def __init__(self, transport: RestTransport):
        self.transport = transport

    async def funding_rates(self, venue_symbol: str, start_ms: int, end_ms: int) -> list[FundingEvent]:
        return await _funding_pages(
            self.transport, binance.funding_request, binance.funding_parse, venue_symbol, (start_ms, end_ms),
            self.funding_limit, newest_first=False,
        )  # fmt: skip


class BybitFundingClient:
    """v5 ``/v5/market/funding/history``, ``category=linear``: newest first, 200 a page, Bybit's IP budget."""

    venue = Venue.BYBIT
    funding_limit = bybit.FUNDING_LIMIT

    def __init__(self, transport: RestTransport):
        self.transport = transport

    async def funding_rates(self, venue_symbol: str, start_ms: int, end_ms: int) -> list[FundingEvent]:
        return await _funding_pages(
            self.transport, bybit.funding_request, bybit.funding_parse, venue_symbol, (start_ms, end_ms),
            self.funding_limit, newest_first=True,
        )  # fmt: skip


@dataclass(frozen=True)
class VenueEndpoints:
    """Base URLs and limits; the defaults are the venues' documented public limits."""

    binance_url: str
    binance_futures_url: str
    bybit_url: str
    coinbase_url: str
    binance_spot_weight_per_minute: int = 6000
    binance_futures_weight_per_minute: int = 2400
    bybit_requests: int = 600
    bybit_window_s: float = 5.0
    coinbase_requests: int = 10
    coinbase_window_s: float = 1.0
    binance_window_s: float = 60.0
    binance_funding_requests: int = binance.FUNDING_REQUESTS
    binance_funding_window_s: float = binance.FUNDING_WINDOW_S


class VenueClients:
    """One limiter per venue budget, shared by every client of that budget (open it once per download run)."""

    def __init__(self, endpoints: VenueEndpoints, policy: RetryPolicy | None = None):
        self.endpoints = endpoints
        self.policy = policy or RetryPolicy()
        e = endpoints
        self._limiters: dict[str, RateLimiter] = {
            "binance-spot": FixedWindowBudget(e.binance_spot_weight_per_minute, e.binance_window_s),
            "binance-futures": FixedWindowBudget(e.binance_futures_weight_per_minute, e.binance_window_s),
            "binance-funding": SlidingWindowLimiter(e.binance_funding_requests, e.binance_funding_window_s),
            "bybit": SlidingWindowLimiter(e.bybit_requests, e.bybit_window_s),
            "coinbase": SlidingWindowLimiter(e.coinbase_requests, e.coinbase_window_s),
        }
        self._transports: dict[str, RestTransport] = {}

    def _transport(self, key: str, venue: Venue, url: str, error_parse: object, header: str | None) -> RestTransport:
        if key not in self._transports:
            self._transports[key] = RestTransport(
                venue,
                url,
                limiter=self._limiters[key],
                error_parse=error_parse,  # type: ignore[arg-type]
                weight_header=header,
                policy=self.policy,
            )
        return self._transports[key]

    def client(self, venue: Venue, market_type: MarketType) -> KlineClient:
        e = self.endpoints
        if venue is Venue.BINANCE:
            spot = market_type is MarketType.SPOT
            key = "binance-spot" if spot else "binance-futures"
            url = e.binance_url if spot else e.binance_futures_url
            return BinanceClient(
                market_type, self._transport(key, venue, url, binance.error_parse, "X-MBX-USED-WEIGHT-1M")
            )
        if venue is Venue.BYBIT:
            return BybitClient(market_type, self._transport("bybit", venue, e.bybit_url, bybit.error_parse, None))
        if venue is Venue.COINBASE:
            return CoinbaseClient(
                market_type, self._transport("coinbase", venue, e.coinbase_url, coinbase.error_parse, None)
            )
        raise ValueError(f"unknown venue {venue!r}")

    def funding_client(self, venue: Venue) -> FundingClient:
        """The funding-rate client of a venue with perpetuals (Binance USD-M, Bybit linear)."""
        e = self.endpoints
        if venue is Venue.BINANCE:
            transport = self._transport("binance-funding", venue, e.binance_futures_url, binance.error_parse, None)
            return BinanceFundingClient(transport)
        if venue is Venue.BYBIT:
            return BybitFundingClient(self._transport("bybit", venue, e.bybit_url, bybit.error_parse, None))
        raise ValueError(f"{venue} has no perpetuals here: no funding rates")

    def stats(self) -> dict[str, TransportStats]:
        return {key: transport.stats for key, transport in self._transports.items()}

    async def close(self) -> None:
        for transport in self._transports.values():
            await transport.close()

    async def __aenter__(self) -> VenueClients:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
