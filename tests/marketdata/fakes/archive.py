"""A fake of Binance's public kline archive host (data.binance.vision style).

Paths, as the binance-public-data README gives them::

    /data/spot/{monthly|daily}/klines/{SYMBOL}/{INTERVAL}/{SYMBOL}-{INTERVAL}-{YYYY-MM | YYYY-MM-DD}.zip
    /data/futures/um/{monthly|daily}/klines/...            (same layout)
    ... .zip.CHECKSUM                                      "<sha256 hex>  <file name>\n" (sha256sum's format)

The monthly interval is written ``1mo`` (case-insensitive file systems). Each zip holds one CSV named like the zip:
spot CSVs have no header, USD-M CSVs have a header line; spot files for periods from 2025-01-01 on carry open and
close times in MICROseconds. A file exists only for a complete, published period (its end + ``publish_delay_ms``
at or before the market clock) in which the market has candles; anything else is a 404 with the storage host's
XML body. The rows are the same candles the REST fake serves for the same :class:`Market`.

Archive faults: :meth:`corrupt_zip`, :meth:`checksum_mismatch`, :meth:`republish` (plus the generic ones).
"""

from __future__ import annotations

import calendar
import hashlib
import io
import re
import threading
import zipfile
from collections.abc import Iterable

from aiohttp import web

from marketdata.core.intervals import DAY_MS, VENUE_INTERVALS, Interval, interval_get
from marketdata.core.venues import MarketType, Venue
from tests.marketdata.fakes.server import Clock, FakeServer
from tests.marketdata.fakes.truth import Market, binance_kline_extras

MICROSECONDS_FROM_MS = 1_735_689_600_000  # 2025-01-01T00:00:00Z: spot archives switch to microseconds
FUTURES_HEADER = (
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,"
    "taker_buy_volume,taker_buy_quote_volume,ignore\n"
)
_NAME = re.compile(r"^(?P<symbol>[A-Z0-9]+)-(?P<interval>[0-9]+[a-z]+)-(?P<period>\d{4}-\d{2}(?:-\d{2})?)\.zip$")
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed, so a zip's bytes (and checksum) depend on its rows only


def archive_interval_code(code: str) -> str:
    """The platform's interval code as the archive writes it (``1M`` → ``1mo``)."""
    return "1mo" if code == "1M" else code


def period_bounds(period: str) -> tuple[int, int]:
    """``"2024-02"`` → [2024-02-01, 2024-03-01) and ``"2024-02-29"`` → that day, in milliseconds UTC."""
    parts = [int(p) for p in period.split("-")]
    if len(parts) == 2:
        year, month = parts
        start = calendar.timegm((year, month, 1, 0, 0, 0)) * 1000
        end = calendar.timegm((year + month // 12, month % 12 + 1, 1, 0, 0, 0)) * 1000
        return start, end
    year, month, day = parts
    start = calendar.timegm((year, month, day, 0, 0, 0)) * 1000
    return start, start + DAY_MS


def archive_csv(market: Market, interval: Interval, start_ms: int, end_ms: int, now_ms: int) -> bytes:
    """The CSV of one archive file: every candle opening in ``[start_ms, end_ms)`` in the venue's layout."""
    spot = market.market_type is MarketType.SPOT
    micro = spot and start_ms >= MICROSECONDS_FROM_MS
    lines = [] if spot else [FUTURES_HEADER]
    for c in market.candles(interval, start_ms, end_ms, now_ms):
        close_time, quote, trades, taker_base, taker_quote = binance_kline_extras(market, interval, c)
        open_time = c.open_time
        if micro:
            open_time, close_time = open_time * 1000, close_time * 1000 + 999
        lines.append(
            f"{open_time},{c.open},{c.high},{c.low},{c.close},{c.volume},{close_time},"
            f"{quote},{trades},{taker_base},{taker_quote},0\n"
        )
    return "".join(lines).encode()


def zip_bytes(member: str, content: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo(member, date_time=_ZIP_TIME)
        info.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(info, content)
    return buffer.getvalue()


_NOT_FOUND = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchKey</Code>'
    "<Message>The specified key does not exist.</Message><Key>{key}</Key></Error>"
)


class FakeBinanceArchive(FakeServer):
    def __init__(
        self,
        markets: Iterable[Market],
        *,
        clock: Clock | None = None,
        publish_delay_ms: int = 0,
        fault_delay_s: float = 5.0,
    ) -> None:
        super().__init__(clock=clock, fault_delay_s=fault_delay_s)
        self.markets = {(m.market_type, m.venue_symbol): m for m in markets if m.venue is Venue.BINANCE}
        self.publish_delay_ms = publish_delay_ms
        self._lock = threading.Lock()
        self._cache: dict[tuple[object, ...], bytes] = {}
        self._corrupt: set[tuple[str, str | None]] = set()
        self._mismatch: set[tuple[str, str | None]] = set()

    # -- archive faults -------------------------------------------------------------------------------------------

    def corrupt_zip(self, period: str, symbol: str | None = None) -> None:
        """From now on the zips of ``period`` (of ``symbol``, or every symbol) are damaged bytes; their CHECKSUM
        files still give the sha256 of the good zip, as when a download is corrupted on the way."""
        self._corrupt.add((period, symbol))

    def checksum_mismatch(self, period: str, symbol: str | None = None) -> None:
        """The CHECKSUM files of ``period`` give a sha256 that is not the zip's."""
        self._mismatch.add((period, symbol))

    def republish(self, period: str, symbol: str | None = None) -> None:
        """Binance re-publishes ``period``: its candles are revised (volumes change, in the REST truth too, as the
        fix aligns the archive with the venue's data), so the zips and their checksums change."""
        start, end = period_bounds(period)
        for (_, venue_symbol), market in self.markets.items():
            if symbol is None or venue_symbol == symbol:
                revision = 1 + sum(1 for s, e, _ in market.revisions if (s, e) == (start, end))
                market.revisions.append((start, end, revision))

    def _flagged(self, flags: set[tuple[str, str | None]], period: str, symbol: str) -> bool:
        return (period, None) in flags or (period, symbol) in flags

    # -- serving ----------------------------------------------------------------------------------------------------

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/data/spot/{cadence}/klines/{symbol}/{interval}/{name}", self._spot)
        app.router.add_get("/data/futures/um/{cadence}/klines/{symbol}/{interval}/{name}", self._futures)
        app.router.add_route("*", "/{tail:.*}", self._missing)

    def error_response(self, status: int) -> web.Response:
        return web.Response(status=status, text=f"<html><body>{status}</body></html>", content_type="text/html")

    async def _missing(self, request: web.Request) -> web.Response:
        return self._missing_sync(request)

    async def _spot(self, request: web.Request) -> web.Response:
        return self._file(request, MarketType.SPOT)

    async def _futures(self, request: web.Request) -> web.Response:
        return self._file(request, MarketType.PERP)

    def _file(self, request: web.Request, market_type: MarketType) -> web.Response:
        info = request.match_info
        name, checksum = info["name"], False
        if name.endswith(".CHECKSUM"):
            name, checksum = name.removesuffix(".CHECKSUM"), True
        found = self._resolve(market_type, info["cadence"], info["symbol"], info["interval"], name)
        if found is None:
            return self._missing_sync(request)
        market, interval, period, start, end = found
        good = self._zip(market, interval, name, start, end)
        if checksum:
            digest = hashlib.sha256(good).hexdigest()
            if self._flagged(self._mismatch, period, market.venue_symbol):
                digest = hashlib.sha256(good + b"mismatch").hexdigest()
            return web.Response(text=f"{digest}  {name}\n", content_type="text/plain")
        body = good
        if self._flagged(self._corrupt, period, market.venue_symbol):
            middle = len(good) // 2
            body = good[:middle] + bytes(b ^ 0xFF for b in good[middle : middle + 64]) + good[middle + 64 :]
        return web.Response(body=body, content_type="application/zip")

    def _missing_sync(self, request: web.Request) -> web.Response:
        key = request.path.lstrip("/")
        return web.Response(status=404, text=_NOT_FOUND.format(key=key), content_type="application/xml")

    def _resolve(
        self, market_type: MarketType, cadence: str, symbol: str, code: str, name: str
    ) -> tuple[Market, Interval, str, int, int] | None:
        match = _NAME.match(name)
        if match is None or match["symbol"] != symbol or match["interval"] != code:
            return None
        period = match["period"]
        if (cadence == "monthly") != (len(period) == 7) or cadence not in ("monthly", "daily"):
            return None
        market = self.markets.get((market_type, symbol))
        platform_code = "1M" if code == "1mo" else code
        if market is None or code == "1M" or platform_code not in VENUE_INTERVALS[(Venue.BINANCE, market_type)]:
            return None
        try:
            start, end = period_bounds(period)
        except ValueError:
            return None
        now = self.clock()
        if end + self.publish_delay_ms > now:
            return None  # not complete, or not yet published
        interval = interval_get(platform_code)
        if not market.select(interval, start, end - 1, now, 1):
            return None  # nothing traded in the period (before listing, after delisting)
        return market, interval, period, start, end

    def _zip(self, market: Market, interval: Interval, name: str, start: int, end: int) -> bytes:
        key = (market.market_type, market.venue_symbol, interval.code, start, end, len(market.revisions))
        with self._lock:
            cached = self._cache.get(key)
        if cached is None:
            content = archive_csv(market, interval, start, end, end)
            cached = zip_bytes(name.removesuffix(".zip") + ".csv", content)
            with self._lock:
                self._cache[key] = cached
        return cached
