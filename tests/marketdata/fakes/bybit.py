"""A fake Bybit v5 REST API: ``/v5/market/kline``, ``/v5/market/instruments-info``, ``/v5/market/time``.

As the venue documents it: klines NEWEST FIRST, every field a string, ``category`` spot|linear, Bybit's interval
codes, ``start``/``end`` inclusive (the newest ``limit`` candles of the range; ``end`` defaults to now), ``limit``
1…1000 (default 200); bad parameters are HTTP 200 with ``retCode`` ≠ 0 (10001); the IP limit of 600 requests in any
5-second window answers HTTP 403 "access too frequent" and bans the IP (Bybit: "at least 10 minutes").

Funding history, ``/v5/market/funding/history`` (served from ``funding``, a :class:`FundingHistory` per linear
symbol): NEWEST FIRST, every field a string, ``category`` linear (or inverse, which lists nothing here), ``startTime``
and ``endTime`` inclusive (``startTime`` alone is refused; ``endTime`` alone or neither: the newest ``limit`` before
it or now), ``limit`` 1…200 (default 200), the newest ``limit`` of the range.

Shrink it for tests: ``FakeBybit(markets, requests_per_window=5, window_s=1, ban_s=1)``.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable

from aiohttp import web

from marketdata.core.intervals import VENUE_INTERVALS, interval_get
from marketdata.core.venues import MarketType, Venue
from tests.marketdata.fakes.funding import FundingHistory
from tests.marketdata.fakes.server import Clock, FakeServer, SlidingCount, json_response
from tests.marketdata.fakes.truth import Market, plain_text, text_units

CATEGORIES = {"spot": MarketType.SPOT, "linear": MarketType.PERP}
# Bybit's code → the platform's code (the same table for spot and linear).
BYBIT_CODES = {venue: platform for platform, venue in VENUE_INTERVALS[(Venue.BYBIT, MarketType.SPOT)].items()}


class RawJson(str):
    """A result already written as JSON text."""


class BybitError(Exception):
    def __init__(self, ret_code: int, ret_msg: str):
        self.ret_code, self.ret_msg = ret_code, ret_msg


def _int_param(query: dict[str, str], name: str) -> int | None:
    text = query.get(name)
    if text is None or text == "":
        return None
    if not text.lstrip("-").isdigit():
        raise BybitError(10001, f"params error: {name} is invalid")
    return int(text)


class FakeBybit(FakeServer):
    def __init__(
        self,
        markets: Iterable[Market],
        *,
        clock: Clock | None = None,
        requests_per_window: int = 600,
        window_s: float = 5.0,
        ban_s: float = 600.0,
        kline_max_limit: int = 1000,
        fault_delay_s: float = 5.0,
        funding: Iterable[FundingHistory] = (),
    ) -> None:
        super().__init__(clock=clock, fault_delay_s=fault_delay_s)
        self.funding = {history.venue_symbol: history for history in funding}
        self.markets: dict[tuple[MarketType, str], Market] = {
            (m.market_type, m.venue_symbol): m for m in markets if m.venue is Venue.BYBIT
        }
        self.ip_limit = SlidingCount(requests_per_window, window_s, ban_s)
        self.kline_max_limit = kline_max_limit

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/v5/market/kline", self._handler(self._kline))
        app.router.add_get("/v5/market/instruments-info", self._handler(self._instruments))
        app.router.add_get("/v5/market/time", self._handler(self._time))
        app.router.add_get("/v5/market/funding/history", self._handler(self._funding))

    def error_response(self, status: int) -> web.Response:
        if status == 403:
            return web.Response(status=403, text="access too frequent")
        return web.Response(status=status, text=f"{status} error")

    def _envelope(self, result: object, ret_code: int = 0, ret_msg: str = "OK") -> web.Response:
        return json_response(
            {"retCode": ret_code, "retMsg": ret_msg, "result": result, "retExtInfo": {}, "time": self.clock()}
        )

    def _handler(self, answer):  # type: ignore[no-untyped-def]
        async def handle(request: web.Request) -> web.StreamResponse:
            if self.ip_limit.admit().status:
                return web.Response(status=403, text="access too frequent")
            try:
                result = answer(dict(request.query))
                if isinstance(result, RawJson):
                    # a page is written as text directly: the rows are already JSON
                    body = f'{{"retCode":0,"retMsg":"OK","result":{result},"retExtInfo":{{}},"time":{self.clock()}}}'
                    return web.Response(body=body.encode(), content_type="application/json")
                return self._envelope(result)
            except BybitError as exc:
                return self._envelope({}, exc.ret_code, exc.ret_msg)

        return handle

    def _category(self, query: dict[str, str]) -> MarketType:
        category = query.get("category", "")
        if category not in CATEGORIES:
            raise BybitError(10001, "Illegal category")
        return CATEGORIES[category]

    def _time(self, query: dict[str, str]) -> dict[str, str]:
        now = self.clock()
        return {"timeSecond": str(now // 1000), "timeNano": str(now * 1_000_000)}

    def _kline(self, query: dict[str, str]) -> RawJson:
        market_type = self._category(query)
        symbol = query.get("symbol", "")
        code = query.get("interval", "")
        start, end, limit = (_int_param(query, name) for name in ("start", "end", "limit"))
        if code not in BYBIT_CODES:
            raise BybitError(10001, "params error: intervalTime is invalid")
        market = self.markets.get((market_type, symbol))
        if market is None:
            raise BybitError(10001, "Not supported symbols")
        if limit is None:
            limit = 200
        if not 1 <= limit <= self.kline_max_limit:
            raise BybitError(10001, "params error: limit is invalid")

        interval = interval_get(BYBIT_CODES[code])
        now = self.clock()
        candles = market.select(
            interval, 0 if start is None else start, now if end is None else end, now, limit, newest_first=True
        )
        pd, qd = market.price_decimals, market.qty_decimals
        turnovers = market.turnover_table
        rows = []
        for c in candles:
            turnover = turnovers.get((c.close, c.volume)) if c.closed else None
            if turnover is None:
                turnover = plain_text(text_units(c.volume, qd) * text_units(c.close, pd), pd + qd)
                if c.closed:
                    turnovers[(c.close, c.volume)] = turnover
            rows.append(f'["{c.open_time}","{c.open}","{c.high}","{c.low}","{c.close}","{c.volume}","{turnover}"]')
        category = query["category"]
        return RawJson(f'{{"symbol":"{symbol}","category":"{category}","list":[{",".join(rows)}]}}')

    def _funding(self, query: dict[str, str]) -> dict[str, object]:
        category = query.get("category", "")
        if category not in ("linear", "inverse"):
            raise BybitError(10001, "params error: Category is invalid")
        start, end, limit = (_int_param(query, name) for name in ("startTime", "endTime", "limit"))
        if limit is None:
            limit = 200
        if not 1 <= limit <= 200:
            raise BybitError(10001, "params error: limit is invalid")
        if start is not None and end is None:
            raise BybitError(10001, "params error: endTime is required when startTime is set")
        if start is not None and end is not None and start > end:
            raise BybitError(10001, "params error: startTime must be less than endTime")
        symbol = query.get("symbol", "")
        market = self.markets.get((MarketType.PERP, symbol)) if category == "linear" else None
        if market is None:
            raise BybitError(10001, "params error: symbol invalid")
        history = self.funding.get(symbol)
        now = self.clock()
        rows = [] if history is None else history.between(start or 0, now if end is None else min(end, now))
        page = rows[::-1][:limit]
        return {
            "category": category,
            "list": [
                {"symbol": symbol, "fundingRate": row.bybit_rate(), "fundingRateTimestamp": str(row.time_ms)}
                for row in page
            ],
        }

    def _instruments(self, query: dict[str, str]) -> dict[str, object]:
        market_type = self._category(query)
        status = query.get("status", "Trading")
        markets = [
            m
            for (kind, symbol), m in sorted(self.markets.items())
            if kind is market_type and (("Trading" if m.active else "Closed") == status)
        ]
        symbol = query.get("symbol")
        if symbol is not None:
            markets = [m for m in markets if m.venue_symbol == symbol]
        if market_type is MarketType.SPOT:
            # Spot does not paginate: limit and cursor are ignored.
            return {"category": "spot", "list": [self._spot_info(m) for m in markets]}
        limit = _int_param(query, "limit") or 500
        if not 1 <= limit <= 1000:
            raise BybitError(10001, "params error: limit is invalid")
        offset = 0
        cursor = query.get("cursor")
        if cursor:
            try:
                offset = int(base64.urlsafe_b64decode(cursor.encode()).decode().removeprefix("offset="))
            except ValueError:
                raise BybitError(10001, "params error: cursor is invalid") from None
        page = markets[offset : offset + limit]
        more = offset + limit < len(markets)
        next_cursor = base64.urlsafe_b64encode(f"offset={offset + limit}".encode()).decode() if more else ""
        return {"category": "linear", "list": [self._linear_info(m) for m in page], "nextPageCursor": next_cursor}

    def _spot_info(self, m: Market) -> dict[str, object]:
        return {
            "symbol": m.venue_symbol,
            "baseCoin": m.base,
            "quoteCoin": m.quote,
            "innovation": "0",
            "status": "Trading" if m.active else "Closed",
            "marginTrading": "none",
            "lotSizeFilter": {
                "basePrecision": m.lot_size,
                "quotePrecision": "0.00000001",
                "minOrderQty": m.lot_size,
                "maxOrderQty": "1000000",
                "minOrderAmt": "1",
                "maxOrderAmt": "2000000",
            },
            "priceFilter": {"tickSize": m.tick_size},
        }

    def _linear_info(self, m: Market) -> dict[str, object]:
        return {
            "symbol": m.venue_symbol,
            "contractType": "LinearPerpetual",
            "status": "Trading" if m.active else "Closed",
            "baseCoin": m.base,
            "quoteCoin": m.quote,
            "launchTime": str(m.listed_ms),
            "deliveryTime": "0",
            "deliveryFeeRate": "",
            "priceScale": str(m.price_decimals),
            "leverageFilter": {"minLeverage": "1", "maxLeverage": "100.00", "leverageStep": "0.01"},
            "priceFilter": {"minPrice": m.tick_size, "maxPrice": "1999999.80", "tickSize": m.tick_size},
            "lotSizeFilter": {
                "maxOrderQty": "1190.000",
                "minOrderQty": m.lot_size,
                "qtyStep": m.lot_size,
                "postOnlyMaxOrderQty": "1190.000",
                "maxMktOrderQty": "500.000",
                "minNotionalValue": "5",
            },
            "unifiedMarginTrade": True,
            "fundingInterval": 480,
            "settleCoin": m.quote,
        }
