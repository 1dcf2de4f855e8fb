"""Live order books: run the venue connectors of one market, build its consolidated snapshot, publish it.

Publishing writes the snapshot to Redis (the default cache, key per market, expiring after
``SNAPSHOT_TTL_SECONDS`` so a stopped watcher makes the market not live) and sends it to the market's Channels
group (``orderbook.<BASE-QUOTE>``), which the public websocket and the depth page listen to.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from channels.layers import get_channel_layer
from django.core.cache import cache

from marketdata.core.venues import Venue
from orderbook.live.connectors import BookConnector, connector_create
from orderbook.live.snapshots import VenueFeed, book_snapshot, market_slug
from orderbook.selectors import SNAPSHOT_TTL_SECONDS, orderbook_cache_key, taker_fees_configured, venue_urls_configured

ORDERBOOK_EVENT = "orderbook.snapshot"  # handled by OrderBookConsumer.orderbook_snapshot
PUBLISHED_DEPTH = 50  # aggregated levels a side kept in a published snapshot; the API cuts it to ?depth=


def orderbook_group(symbol: str) -> str:
    """The Channels group of one market's live book (group names allow letters, digits, ``-``, ``_`` and ``.``)."""
    return f"orderbook.{market_slug(symbol)}"


async def orderbook_snapshot_publish(*, snapshot: Mapping[str, Any]) -> None:
    """Store ``snapshot`` as its market's latest (expiring) and push it to the market's group."""
    symbol = str(snapshot["symbol"])
    await cache.aset(orderbook_cache_key(symbol), dict(snapshot), timeout=SNAPSHOT_TTL_SECONDS)
    channel_layer = get_channel_layer()
    assert channel_layer is not None, "CHANNEL_LAYERS is not configured"
    await channel_layer.group_send(orderbook_group(symbol), {"type": ORDERBOOK_EVENT, "snapshot": dict(snapshot)})


def connectors_snapshot(
    symbol: str, connectors: Sequence[BookConnector], *, depth: int = PUBLISHED_DEPTH, at: datetime | None = None
) -> dict[str, Any]:
    """The consolidated snapshot of ``connectors`` (one per venue) now."""
    feeds = {
        connector.venue.value: VenueFeed(
            connector.book,
            connector.state.value,
            connector.counters.messages,
            dict(connector.counters.resyncs),
            connector.counters.reconnects,
        )
        for connector in connectors
    }
    return book_snapshot(symbol, feeds, taker_fees=taker_fees_configured(), depth=depth, at=at or datetime.now(UTC))


async def orderbook_watch(
    *,
    symbol: str,
    venue_symbols: Mapping[Venue, str],
    seconds: float | None = None,
    once: bool = False,
    interval: float = 0.5,
    publish: bool = True,
    on_snapshot: Callable[[dict[str, Any]], None] | None = None,
    urls: Mapping[str, str] | None = None,
    **connector_options: Any,
) -> dict[str, Any] | None:
    """Mirror ``symbol`` on each venue of ``venue_symbols`` (venue → its own symbol) and every ``interval`` seconds
    build the consolidated snapshot, publish it (``publish``) and hand it to ``on_snapshot``.

    Runs for ``seconds`` (None: until cancelled); ``once`` stops after the first snapshot in which every venue is
    live (or when ``seconds`` runs out). Returns the last snapshot built.
    """
    resolved_urls = dict(urls or venue_urls_configured())
    connectors = [
        connector_create(venue, venue_symbol, urls=resolved_urls, **connector_options)
        for venue, venue_symbol in venue_symbols.items()
    ]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(connector.run(stop)) for connector in connectors]
    loop = asyncio.get_running_loop()
    deadline = None if seconds is None else loop.time() + seconds
    last: dict[str, Any] | None = None
    try:
        while True:
            await asyncio.sleep(interval if deadline is None else max(0.0, min(interval, deadline - loop.time())))
            last = connectors_snapshot(symbol, connectors)
            if publish and any(connector.book is not None for connector in connectors):
                await orderbook_snapshot_publish(snapshot=last)
            if on_snapshot is not None:
                on_snapshot(last)
            if once and all(connector.book is not None for connector in connectors):
                break
            if deadline is not None and loop.time() >= deadline:
                break
    finally:
        stop.set()
        for task in tasks:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 5)
    return last
