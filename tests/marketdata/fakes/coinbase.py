"""A fake Coinbase Exchange REST API: ``/products``, ``/products/{id}``, ``/products/{id}/candles``, ``/time``.

As the venue documents it: candles NEWEST FIRST as ``[time_s, low, high, open, close, volume]`` with JSON numbers
(written here from the exact decimal text, so a client parsing numbers as decimals gets them exactly); only
trading periods (no candle where nothing traded); ``granularity`` one of 60, 300, 900, 3600, 21600, 86400, else
HTTP 400; ``start``/``end`` in ISO 8601 (both or neither: neither → the 300 buckets ending now); a window of more
than 300 buckets → HTTP 400 (a refusal, not a truncation). Both ends are inclusive here. Public rate limit:
a token bucket of 10 requests/s with bursts up to 15 → HTTP 429 ``{"message":"Public rate limit exceeded"}``.

Shrink it for tests: ``FakeCoinbase(markets, rate_per_s=5, burst=5)``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime

from aiohttp import web

from marketdata.core.intervals import VENUE_INTERVALS, interval_get
from marketdata.core.venues import MarketType, Venue
from tests.marketdata.fakes.server import Clock, FakeServer, TokenBucket, json_response
from tests.marketdata.fakes.truth import Market

MAX_CANDLES = 300
GRANULARITIES = {int(code): platform for platform, code in VENUE_INTERVALS[(Venue.COINBASE, MarketType.SPOT)].items()}
TOO_MANY = "granularity too small for the requested time range. Count of aggregations requested exceeds 300"


class CoinbaseError(Exception):
    def __init__(self, status: int, message: str):
        self.status, self.message = status, message


def parse_time_ms(text: str, name: str) -> int:
    """ISO 8601 (``2024-01-01T00:00:00Z``, offsets allowed; a naive time is UTC) or Unix seconds → milliseconds."""
    try:
        if text.replace(".", "", 1).isdigit():
            return round(float(text) * 1000)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CoinbaseError(400, f"Invalid {name}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return round(moment.timestamp() * 1000)


class FakeCoinbase(FakeServer):
    def __init__(
        self,
        markets: Iterable[Market],
        *,
        clock: Clock | None = None,
        rate_per_s: float = 10.0,
        burst: int = 15,
        fault_delay_s: float = 5.0,
    ) -> None:
        super().__init__(clock=clock, fault_delay_s=fault_delay_s)
        self.markets = {m.venue_symbol: m for m in markets if m.venue is Venue.COINBASE}
        self.bucket = TokenBucket(rate_per_s, burst)

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/products", self._handler(self._products))
        app.router.add_get("/products/{product_id}", self._handler(self._product))
        app.router.add_get("/products/{product_id}/candles", self._handler(self._candles))
        app.router.add_get("/time", self._handler(self._time))
        app.router.add_route("*", "/{tail:.*}", self._not_found)

    def error_response(self, status: int) -> web.Response:
        if status == 429:
            return json_response({"message": "Public rate limit exceeded"}, 429)
        if status >= 500:
            return json_response({"message": "Internal server error"}, status)
        return json_response({"message": "Forbidden"}, status)

    async def _not_found(self, request: web.Request) -> web.Response:
        return json_response({"message": "NotFound"}, 404)

    def _handler(self, answer):  # type: ignore[no-untyped-def]
        async def handle(request: web.Request) -> web.StreamResponse:
            if self.bucket.admit().status:
                return json_response({"message": "Public rate limit exceeded"}, 429)
            try:
                payload = answer(request.match_info.get("product_id"), dict(request.query))
            except CoinbaseError as exc:
                return json_response({"message": exc.message}, exc.status)
            if isinstance(payload, bytes):
                return web.Response(body=payload, content_type="application/json")
            return json_response(payload)

        return handle

    def _market(self, product_id: str | None) -> Market:
        market = self.markets.get(product_id or "")
        if market is None:
            raise CoinbaseError(404, "NotFound")
        return market

    def _time(self, product_id: str | None, query: dict[str, str]) -> dict[str, object]:
        now = self.clock()
        iso = datetime.fromtimestamp(now / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return {"iso": iso, "epoch": now / 1000}

    def _products(self, product_id: str | None, query: dict[str, str]) -> list[dict[str, object]]:
        return [self._product_info(m) for m in self.markets.values()]

    def _product(self, product_id: str | None, query: dict[str, str]) -> dict[str, object]:
        return self._product_info(self._market(product_id))

    def _product_info(self, m: Market) -> dict[str, object]:
        return {
            "id": m.venue_symbol,
            "base_currency": m.base,
            "quote_currency": m.quote,
            "quote_increment": m.tick_size,
            "base_increment": m.lot_size,
            "display_name": m.venue_symbol,
            "min_market_funds": "1",
            "margin_enabled": False,
            "post_only": False,
            "limit_only": False,
            "cancel_only": False,
            "status": "online" if m.active else "delisted",
            "status_message": "",
            "trading_disabled": not m.active,
            "fx_stablecoin": False,
            "max_slippage_percentage": "0.02000000",
            "auction_mode": False,
            "high_bid_limit_percentage": "",
        }

    def _candles(self, product_id: str | None, query: dict[str, str]) -> bytes:
        market = self._market(product_id)
        granularity_text = query.get("granularity", "")
        granularity = int(granularity_text) if granularity_text.isdigit() else 0
        if granularity not in GRANULARITIES:
            raise CoinbaseError(400, "Unsupported granularity")
        interval = interval_get(GRANULARITIES[granularity])
        step = granularity * 1000
        now = self.clock()
        start_text, end_text = query.get("start"), query.get("end")
        if start_text and end_text:
            start, end = parse_time_ms(start_text, "start"), parse_time_ms(end_text, "end")
            if start > end:
                raise CoinbaseError(400, "start must be before end")
        else:
            # Neither (or only one, which the venue ignores): the buckets ending now.
            end = now
            start = interval.floor(now) - (MAX_CANDLES - 1) * step
        buckets = interval.floor(end) // step - interval.ceil(start) // step + 1
        if buckets > MAX_CANDLES:
            raise CoinbaseError(400, TOO_MANY)
        candles = market.select(interval, start, end, now, newest_first=True)
        rows = ",".join(f"[{c.open_time // 1000},{c.low},{c.high},{c.open},{c.close},{c.volume}]" for c in candles)
        return f"[{rows}]".encode()


def candle_rows(payload: bytes) -> list[list[str]]:
    """Parse a candles answer keeping each number's exact text (what a careful client does)."""
    rows: list[list[object]] = json.loads(payload, parse_float=str, parse_int=str)
    return [[str(x) for x in row] for row in rows]
