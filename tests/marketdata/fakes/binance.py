"""A fake Binance REST API: spot (``/api/v3/...``) and USD-M futures (``/fapi/v1/...``) on one server.

What it does as the venue documents it: klines ascending with ``startTime``/``endTime`` both inclusive on the open
time (only ``endTime``, or neither: the newest ``limit`` candles), ``limit`` default 500, max 1000 (spot) / 1500
(futures); request weight per request (spot klines 2, spot exchangeInfo 20; futures klines 1/2/5/10 by ``limit``,
futures exchangeInfo 1, ping/time 1), reported in ``X-MBX-USED-WEIGHT-1M`` on every answer; over 6000 (spot) /
2400 (futures) weight in a minute window → HTTP 429 ``{"code":-1003,...}`` with ``Retry-After``; requests that keep
coming before that → HTTP 418 (IP ban, doubling). Spot and futures are different hosts at Binance, so each has
its own weight budget and its own ban here. Errors are HTTP 400 with ``{"code": ..., "msg": ...}``.

USD-M funding history, ``/fapi/v1/fundingRate`` (served from ``funding``, a :class:`FundingHistory` per symbol):
ascending, ``startTime``/``endTime`` inclusive, the oldest ``limit`` of the range (only ``endTime``, or neither:
the newest ``limit``), ``limit`` default 100, max 1000; its own budget of 500 requests per 5 minutes per IP (shared
with ``fundingInfo`` at the venue), not request weight: over it → 429 ``-1003``, then 418 bans as for weight.

Shrink the limits for tests: ``FakeBinance(markets, spot_weight_limit=10, weight_window_s=1, ban_s=1)``.
"""

from __future__ import annotations

from collections.abc import Iterable

from aiohttp import web

from marketdata.core.intervals import VENUE_INTERVALS, interval_get
from marketdata.core.venues import MarketType, Venue
from tests.marketdata.fakes.funding import FundingHistory
from tests.marketdata.fakes.server import Clock, FakeServer, Verdict, WeightWindow, json_response
from tests.marketdata.fakes.truth import Market, binance_kline_extras, units_text

WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"


def futures_klines_weight(limit: int) -> int:
    """USD-M klines weight by ``limit``: [1,100) → 1, [100,500) → 2, [500,1000] → 5, > 1000 → 10."""
    if limit < 100:
        return 1
    if limit < 500:
        return 2
    if limit <= 1000:
        return 5
    return 10


class _Api:
    """One of the two APIs (spot or USD-M): its markets, limits and budget."""

    def __init__(self, market_type: MarketType, markets: dict[str, Market], max_limit: int, budget: WeightWindow):
        self.market_type = market_type
        self.markets = markets
        self.max_limit = max_limit
        self.budget = budget
        self.intervals = VENUE_INTERVALS[(Venue.BINANCE, market_type)]


class BinanceError(Exception):
    def __init__(self, code: int, msg: str, status: int = 400):
        self.code, self.msg, self.status = code, msg, status


def _mandatory(name: str) -> BinanceError:
    return BinanceError(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


def _int_param(query: dict[str, str], name: str) -> int | None:
    text = query.get(name)
    if text is None or text == "":
        return None
    if not text.isdigit() or len(text) > 20:
        raise BinanceError(-1100, f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'.")
    return int(text)


class FakeBinance(FakeServer):
    def __init__(
        self,
        markets: Iterable[Market],
        *,
        clock: Clock | None = None,
        spot_weight_limit: int = 6000,
        futures_weight_limit: int = 2400,
        weight_window_s: float = 60.0,
        ban_s: float = 120.0,
        ban_after: int = 3,
        fault_delay_s: float = 5.0,
        funding: Iterable[FundingHistory] = (),
        funding_requests: int = 500,
        funding_window_s: float = 300.0,
    ) -> None:
        super().__init__(clock=clock, fault_delay_s=fault_delay_s)
        self.funding = {history.venue_symbol: history for history in funding}
        self.funding_budget = WeightWindow(funding_requests, funding_window_s, ban_s, ban_after)
        markets = [m for m in markets if m.venue is Venue.BINANCE]
        self.spot = _Api(
            MarketType.SPOT,
            {m.venue_symbol: m for m in markets if m.market_type is MarketType.SPOT},
            1000,
            WeightWindow(spot_weight_limit, weight_window_s, ban_s, ban_after),
        )
        self.futures = _Api(
            MarketType.PERP,
            {m.venue_symbol: m for m in markets if m.market_type is MarketType.PERP},
            1500,
            WeightWindow(futures_weight_limit, weight_window_s, ban_s, ban_after),
        )

    def routes(self, app: web.Application) -> None:
        for prefix, api in (("/api/v3", self.spot), ("/fapi/v1", self.futures)):
            app.router.add_get(f"{prefix}/klines", self._handler(api, self._klines))
            app.router.add_get(f"{prefix}/exchangeInfo", self._handler(api, self._exchange_info))
            app.router.add_get(f"{prefix}/ping", self._handler(api, lambda api, request: ({}, 1)))
            app.router.add_get(
                f"{prefix}/time", self._handler(api, lambda api, request: ({"serverTime": self.clock()}, 1))
            )

        app.router.add_get("/fapi/v1/fundingRate", self._funding_handler)

    def error_response(self, status: int) -> web.Response:
        if status == 429:
            return self._refusal(Verdict(429, 1, 0), self.spot)
        if status == 418:
            return self._refusal(Verdict(418, 1, 0), self.spot)
        if status >= 500:
            body = {"code": -1000, "msg": "An unknown error occured while processing the request."}
            return json_response(body, status)
        return json_response({"code": -1000, "msg": "Forbidden."}, status)

    # -- plumbing -----------------------------------------------------------------------------------------------

    def _handler(self, api: _Api, answer):  # type: ignore[no-untyped-def]
        async def handle(request: web.Request) -> web.StreamResponse:
            query = dict(request.query)
            weight = self._weight(api, request.path, query)
            verdict = api.budget.admit(weight)
            if verdict.status:
                return self._refusal(verdict, api)
            headers = {WEIGHT_HEADER: str(verdict.used)}
            try:
                payload, _ = answer(api, query)
            except BinanceError as exc:
                return json_response({"code": exc.code, "msg": exc.msg}, exc.status, headers)
            if isinstance(payload, bytes):
                return web.Response(body=payload, content_type="application/json", headers=headers)
            return json_response(payload, headers=headers)

        return handle

    def _weight(self, api: _Api, path: str, query: dict[str, str]) -> int:
        if path.endswith("/klines"):
            if api.market_type is MarketType.SPOT:
                return 2
            text = query.get("limit", "")
            return futures_klines_weight(int(text) if text.isdigit() else 500)
        if path.endswith("/exchangeInfo"):
            return 20 if api.market_type is MarketType.SPOT else 1
        return 1

    def _refusal(self, verdict: Verdict, api: _Api) -> web.Response:
        headers = {WEIGHT_HEADER: str(verdict.used), "Retry-After": str(verdict.retry_after_s)}
        if verdict.status == 418:
            until = self.clock() + verdict.retry_after_s * 1000
            msg = (
                f"Way too much request weight used; IP banned until {until}. "
                "Please use the websocket for live updates to avoid bans."
            )
        else:
            msg = (
                f"Too much request weight used; current limit is {api.budget.limit} request weight per 1 MINUTE. "
                "Please use the websocket for live updates to avoid polling the API."
            )
        return json_response({"code": -1003, "msg": msg}, verdict.status, headers)

    # -- endpoints ----------------------------------------------------------------------------------------------

    def _klines(self, api: _Api, query: dict[str, str]) -> tuple[bytes, int]:
        symbol = query.get("symbol")
        if not symbol:
            raise _mandatory("symbol")
        code = query.get("interval")
        if not code:
            raise _mandatory("interval")
        start, end, limit = (_int_param(query, name) for name in ("startTime", "endTime", "limit"))
        market = api.markets.get(symbol)
        if market is None:
            raise BinanceError(-1121, "Invalid symbol.")
        if code not in api.intervals:
            raise BinanceError(-1120, "Invalid interval.")
        if limit is None:
            limit = 500
        if not 1 <= limit <= api.max_limit:
            raise BinanceError(-1130, "Data sent for parameter 'limit' is not valid.")
        if start is not None and end is not None and start > end:
            raise BinanceError(-1023, "Start time is greater than end time.")
        interval = interval_get(code)
        now = self.clock()
        if start is not None:
            candles = market.select(interval, start, now if end is None else end, now, limit)
        else:
            candles = market.select(interval, 0, now if end is None else end, now, limit, newest_first=True)
            candles.reverse()
        rows = []
        for c in candles:
            close_time, quote, trades, taker_base, taker_quote = binance_kline_extras(market, interval, c)
            rows.append(
                f'[{c.open_time},"{c.open}","{c.high}","{c.low}","{c.close}","{c.volume}",{close_time},'
                f'"{quote}",{trades},"{taker_base}","{taker_quote}","0"]'
            )
        return f"[{','.join(rows)}]".encode(), 0

    async def _funding_handler(self, request: web.Request) -> web.StreamResponse:
        verdict = self.funding_budget.admit(1)
        if verdict.status:
            headers = {"Retry-After": str(verdict.retry_after_s)}
            msg = "Too many requests; current limit of IP is 500 requests per 5 minutes."
            return json_response({"code": -1003, "msg": msg}, verdict.status, headers)
        try:
            body = self._funding(dict(request.query))
        except BinanceError as exc:
            return json_response({"code": exc.code, "msg": exc.msg}, exc.status)
        return json_response(body)

    def _funding(self, query: dict[str, str]) -> list[dict[str, object]]:
        start, end, limit = (_int_param(query, name) for name in ("startTime", "endTime", "limit"))
        if limit is None:
            limit = 100
        if not 1 <= limit <= 1000:
            raise BinanceError(-1130, "Data sent for parameter 'limit' is not valid.")
        if start is not None and end is not None and start > end:
            raise BinanceError(-1023, "Start time is greater than end time.")
        symbol = query.get("symbol")
        if symbol is not None and symbol not in self.futures.markets:
            raise BinanceError(-1121, "Invalid symbol.")
        histories = [self.funding[symbol]] if symbol in self.funding else []
        if symbol is None:
            histories = list(self.funding.values())
        now = self.clock()
        out = []
        for history in histories:
            rows = history.between(0 if start is None else start, now if end is None else min(end, now))
            rows = rows[:limit] if start is not None else rows[-limit:]
            out += [(row.time_ms, history.venue_symbol, row) for row in rows]
        out.sort(key=lambda item: item[0])
        return [
            {
                "symbol": venue_symbol,
                "fundingTime": row.time_ms,
                "fundingRate": row.binance_rate(),
                "markPrice": row.binance_mark(),
            }
            for _, venue_symbol, row in out[:limit]
        ]

    def _exchange_info(self, api: _Api, query: dict[str, str]) -> tuple[dict[str, object], int]:
        markets = list(api.markets.values())
        wanted = query.get("symbol")
        if wanted is not None:
            if wanted not in api.markets:
                raise BinanceError(-1121, "Invalid symbol.")
            markets = [api.markets[wanted]]
        spot = api.market_type is MarketType.SPOT
        rate_limits = [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": api.budget.limit},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100 if spot else 300},
        ]
        info: dict[str, object] = {
            "timezone": "UTC",
            "serverTime": self.clock(),
            "rateLimits": rate_limits,
            "exchangeFilters": [],
            "symbols": [self._symbol_info(m, spot) for m in markets],
        }
        if not spot:
            info["futuresType"] = "U_MARGINED"
            info["assets"] = [{"asset": q, "marginAvailable": True} for q in sorted({m.quote for m in markets})]
        return info, 0

    def _symbol_info(self, market: Market, spot: bool) -> dict[str, object]:
        decimals = 8 if spot else None
        tick = _step_text(market.tick_size, decimals)
        lot = _step_text(market.lot_size, decimals)
        filters = [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": tick,
                "maxPrice": _step_text("1000000", decimals),
                "tickSize": tick,
            },
            {"filterType": "LOT_SIZE", "minQty": lot, "maxQty": _step_text("9000", decimals), "stepSize": lot},
        ]
        trading = market.active
        if spot:
            return {
                "symbol": market.venue_symbol,
                "status": "TRADING" if trading else "BREAK",
                "baseAsset": market.base,
                "baseAssetPrecision": 8,
                "quoteAsset": market.quote,
                "quotePrecision": 8,
                "quoteAssetPrecision": 8,
                "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
                "isSpotTradingAllowed": True,
                "isMarginTradingAllowed": False,
                "filters": filters,
                "permissions": [],
                "permissionSets": [["SPOT"]],
            }
        return {
            "symbol": market.venue_symbol,
            "pair": market.venue_symbol,
            "contractType": "PERPETUAL",
            "deliveryDate": 4133404800000,
            "onboardDate": market.listed_ms,
            "status": "TRADING" if trading else "SETTLING",
            "baseAsset": market.base,
            "quoteAsset": market.quote,
            "marginAsset": market.quote,
            "pricePrecision": market.price_decimals,
            "quantityPrecision": market.qty_decimals,
            "baseAssetPrecision": 8,
            "quotePrecision": 8,
            "underlyingType": "COIN",
            "filters": filters,
            "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET"],
            "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
        }


def _step_text(step: str, decimals: int | None) -> str:
    """A filter value as the venue writes it: spot with 8 decimals ("0.01000000"), futures as given ("0.01")."""
    if decimals is None:
        return step
    whole, _, frac = step.partition(".")
    return units_text(int(whole + frac.ljust(decimals, "0")), decimals)
