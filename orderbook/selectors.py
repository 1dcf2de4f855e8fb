"""Reads of live order-book state: the last published snapshot of a market, each venue's own symbol for it, and the
configured taker fees and venue URLs.

The registry of live books is Redis (the default cache): the watcher (``manage.py orderbook watch``, one process
per set of markets) publishes each market's consolidated snapshot there with a short expiry and to the market's
Channels group. Any web process reads the last one from the cache; when no watcher has published for
``SNAPSHOT_TTL_SECONDS`` the market is not live and the API answers 404.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.cache import cache

from marketdata.core.venues import MarketType, Venue
from marketdata.models import Instrument
from orderbook.live.connectors import venue_symbol_default

SNAPSHOT_TTL_SECONDS = 30
# Base-tier spot taker fees (fraction of notional), used for the cross-venue signal; a deployment with better tiers
# sets ORDERBOOK_TAKER_FEES = {"binance": "0.00075", ...} in settings.
DEFAULT_TAKER_FEES = {"binance": Decimal("0.001"), "bybit": Decimal("0.001"), "coinbase": Decimal("0.006")}


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


def taker_fees_configured() -> dict[str, Decimal]:
    """Each venue's taker fee (fraction of notional): the defaults, overridden by ``settings.ORDERBOOK_TAKER_FEES``."""
    configured = getattr(settings, "ORDERBOOK_TAKER_FEES", {}) or {}
    return {**DEFAULT_TAKER_FEES, **{venue: Decimal(str(fee)) for venue, fee in configured.items()}}


def venue_urls_configured() -> dict[str, str]:
    """The venues' WebSocket and REST base URLs from settings (testnets and local fakes set them)."""
    names = ("BINANCE_WS_URL", "BINANCE_REST_URL", "BYBIT_WS_URL", "COINBASE_WS_URL")
    return {name: getattr(settings, name) for name in names}
