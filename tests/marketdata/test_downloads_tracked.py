"""Beat's sync of tracked markets: up to the open candle, idempotent, broadcast to the market's group."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from marketdata import downloads, selectors, services
from marketdata.broadcasts import kline_group
from marketdata.core.intervals import INTERVALS, MINUTE_MS
from marketdata.core.venues import MarketType, Venue
from marketdata.exchanges.clients import VenueEndpoints
from marketdata.exchanges.transport import RetryPolicy
from tests.marketdata.factories import InstrumentFactory
from tests.marketdata.fakes import FakeBinance, Market

NOW = 1_704_067_200_000 + 10 * 24 * 60 * MINUTE_MS + 30_000  # 2024-01-11 00:00:30: the 00:00 candle is open
M1, M5 = INTERVALS["1m"], INTERVALS["5m"]
MARKET = Market(Venue.BINANCE, MarketType.SPOT, "BTCUSDT", listed_ms=NOW - 400 * 24 * 60 * MINUTE_MS)
FAST = RetryPolicy(max_attempts=3, backoff_s=0.01, backoff_max_s=0.02, timeout_s=2.0)


def receive_all(channel: str) -> list[dict[str, Any]]:
    layer = get_channel_layer()
    events = []

    async def drain() -> None:
        while True:
            try:
                events.append(await asyncio.wait_for(layer.receive(channel), timeout=0.5))
            except TimeoutError:
                return

    async_to_sync(drain)()
    return events


@pytest.mark.django_db
def test_tracked_markets_are_brought_to_the_open_candle_and_broadcast(redis_namespace):
    now = [NOW]
    instrument = InstrumentFactory(symbol="BTC/USDT", venue_symbol="BTCUSDT", base="BTC")
    services.instrument_set_tracked(instrument_id=instrument.pk, tracked=True, intervals=["1m", "5m"])
    InstrumentFactory()  # not tracked: never asked for
    layer = get_channel_layer()
    # A plain channel name (no "!"): received straight from Redis, in whichever event loop asks.
    channel = f"test-tracking-{uuid.uuid4().hex}"
    async_to_sync(layer.group_add)(kline_group(instrument.pk), channel)

    with FakeBinance([MARKET], clock=lambda: now[0]) as binance:
        endpoints = VenueEndpoints(binance.url, binance.url, "http://127.0.0.1:9", "http://127.0.0.1:9")
        summary = downloads.klines_sync_tracked(now_ms=lambda: now[0], endpoints=endpoints, policy=FAST)
        assert summary is not None and summary.errors == []
        # First run: the lookback (300 candles) plus the open candle, per interval, one request each.
        assert binance.counts()[200] == 2
        for interval in (M1, M5):
            current = interval.floor(NOW)
            rows = selectors.klines_read(
                instrument_id=instrument.pk, interval=interval.code, start_ms=0, end_ms=current + interval.length_ms
            )
            assert rows == MARKET.candles(interval, current - 300 * interval.length_ms, current + 1, NOW)
            assert rows[-1].closed is False
        events = receive_all(channel)
        assert sorted((e["interval"], len(e["candles"])) for e in events) == [("1m", 301), ("5m", 301)]

        # The same moment again: only the open candles are asked for, and rewritten in place (no new row).
        again = downloads.klines_sync_tracked(now_ms=lambda: now[0], endpoints=endpoints, policy=FAST)
        assert again is not None
        assert (again.requests, again.rows_written, again.rows_present) == (2, 2, 0)
        assert (
            len(selectors.klines_open_times(instrument_id=instrument.pk, interval="1m", start_ms=0, end_ms=NOW)) == 301
        )
        assert [len(e["candles"]) for e in receive_all(channel)] == [1, 1]

        # Two minutes later: the old open candle closes (replaced, not duplicated) and two more follow.
        now[0] = NOW + 2 * MINUTE_MS
        later = downloads.klines_sync_tracked(now_ms=lambda: now[0], endpoints=endpoints, policy=FAST)
        assert later is not None and later.errors == []
        events = {e["interval"]: e["candles"] for e in receive_all(channel)}
        assert [(c["open_time_ms"], c["closed"]) for c in events["1m"]] == [
            (M1.floor(NOW), True),
            (M1.floor(NOW) + MINUTE_MS, True),
            (M1.floor(NOW) + 2 * MINUTE_MS, False),
        ]
        rows = selectors.klines_read(instrument_id=instrument.pk, interval="1m", start_ms=M1.floor(NOW), end_ms=now[0])
        assert [(r.open_time, r.closed) for r in rows] == [(c["open_time_ms"], c["closed"]) for c in events["1m"]]


@pytest.mark.django_db
def test_a_run_while_another_is_going_does_nothing(redis_namespace):
    from django.core.cache import cache

    cache.add("marketdata:klines-sync-tracked", "1", 60)
    assert downloads.klines_sync_tracked(now_ms=lambda: NOW) is None
