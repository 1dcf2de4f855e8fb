"""Reads of live order-book state: the last published snapshot of a market, and each venue's own symbol for it.

The registry of live books is Redis (the default cache): the watcher (``manage.py orderbook watch``, one process
per set of markets) publishes each market's consolidated snapshot there with a short expiry and to the market's
Channels group. Any web process reads the last one from the cache; when no watcher has published for
``SNAPSHOT_TTL_SECONDS`` the market is not live and the API answers 404.
"""

from __future__ import annotations

from typing import Any

from django.core.cache import cache

from marketdata.core.venues import MarketType, Venue
from marketdata.models import Instrument
from orderbook.live.connectors import venue_symbol_default

SNAPSHOT_TTL_SECONDS = 30


def orderbook_cache_key(symbol: str) -> str:
    return f"orderbook:snapshot:{symbol.upper()}"


def orderbook_snapshot_get(*, symbol: str) -> dict[str, Any] | None:
    """The last consolidated snapshot published for ``symbol`` (unified, ``BTC/USDT``), or None if nothing is live."""
    snapshot = cache.get(orderbook_cache_key(symbol))
    return snapshot if isinstance(snapshot, dict) else None


async def orderbook_snapshot_aget(*, symbol: str) -> dict[str, Any] | None:
    snapshot = await cache.aget(orderbook_cache_key(symbol))
    return snapshot if isinstance(snapshot, dict) else None


def venue_symbol_get(*, venue: Venue | str, symbol: str) -> str:
    """``venue``'s own symbol for the unified spot ``symbol``: the :class:`~marketdata.models.Instrument` row's
    ``venue_symbol`` when one exists, else the venue's convention (``BTCUSDT``; Coinbase ``BTC-USDT``)."""
    row = (
        Instrument.objects.filter(exchange=Venue(venue).value, market_type=MarketType.SPOT.value, symbol=symbol.upper())
        .values_list("venue_symbol", flat=True)
        .first()
    )
    return row or venue_symbol_default(venue, symbol)
