"""The published form of one market's consolidated book: JSON-ready, prices and sizes as exact decimal text.

One snapshot is what the REST endpoint returns, what the Channels group carries and what the depth page draws::

    {"symbol": "BTC/USDT", "time": "2026-01-01T00:00:00.123000Z", "time_ms": 1767225600123, "depth": 50,
     "venues": [{"venue", "state", "bid": {"price", "size"} | null, "ask": ..., "messages", "resyncs": {reason: n},
                 "reconnects"}],
     "bids": [{"price", "size", "venues": {venue: size}}], "asks": [...],   # aggregated by price, best first
     "signals": [{"buy_venue", "buy_price", "sell_venue", "sell_price", "size", "edge"}]}

A venue that is not in sync has ``bid``/``ask`` null and contributes no depth: an unsynced or crossed book is never
published (the connectors hand out none). Pure: no Django.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from hftplatform.core.decimal_text import decimal_text_keep_scale
from hftplatform.core.utc import utc_aware, utc_iso, utc_ms
from orderbook.l2.book import L2Book, Level, ResyncReason, Side
from orderbook.l2.consolidated import AggregatedLevel, ConsolidatedBook


@dataclass(frozen=True)
class VenueFeed:
    """What a snapshot needs from one venue's connector."""

    book: L2Book | None
    state: str
    messages: int = 0
    resyncs: Mapping[ResyncReason, int] = field(default_factory=dict)
    reconnects: int = 0


def _level(level: Level | None) -> dict[str, str] | None:
    return (
        None
        if level is None
        else {"price": decimal_text_keep_scale(level[0]), "size": decimal_text_keep_scale(level[1])}
    )


def _aggregated(level: AggregatedLevel) -> dict[str, Any]:
    return {
        "price": decimal_text_keep_scale(level.price),
        "size": decimal_text_keep_scale(level.size),
        "venues": {venue: decimal_text_keep_scale(size) for venue, size in level.venues},
    }


def book_snapshot(
    symbol: str,
    feeds: Mapping[str, VenueFeed],
    *,
    taker_fees: Mapping[str, Decimal],
    depth: int,
    at: datetime,
) -> dict[str, Any]:
    """The consolidated snapshot of ``symbol`` at ``at`` (aware UTC), ``depth`` aggregated levels a side."""
    at = utc_aware(at)
    books = {venue: feed.book for venue, feed in feeds.items()}
    consolidated = ConsolidatedBook(books, {venue: taker_fees[venue] for venue in books if venue in taker_fees})
    venues = []
    for venue, feed in sorted(feeds.items()):
        book = feed.book
        venues.append(
            {
                "venue": venue,
                "state": feed.state,
                "bid": _level(book.best(Side.BID)) if book is not None else None,
                "ask": _level(book.best(Side.ASK)) if book is not None else None,
                "messages": feed.messages,
                "resyncs": {str(reason): count for reason, count in sorted(feed.resyncs.items()) if count},
                "reconnects": feed.reconnects,
            }
        )
    return {
        "symbol": symbol,
        "time": utc_iso(at),
        "time_ms": utc_ms(at),
        "depth": depth,
        "venues": venues,
        "bids": [_aggregated(level) for level in consolidated.levels(Side.BID, depth)],
        "asks": [_aggregated(level) for level in consolidated.levels(Side.ASK, depth)],
        "signals": [
            {
                "buy_venue": signal.buy_venue,
                "buy_price": decimal_text_keep_scale(signal.buy_price),
                "sell_venue": signal.sell_venue,
                "sell_price": decimal_text_keep_scale(signal.sell_price),
                "size": decimal_text_keep_scale(signal.size),
                "edge": decimal_text_keep_scale(signal.edge),
            }
            for signal in consolidated.signals()
        ],
    }


def snapshot_truncate(snapshot: Mapping[str, Any], depth: int) -> dict[str, Any]:
    """The same snapshot with at most ``depth`` aggregated levels a side."""
    return {
        **snapshot,
        "depth": min(depth, int(snapshot["depth"])),
        "bids": snapshot["bids"][:depth],
        "asks": snapshot["asks"][:depth],
    }


def market_slug(symbol: str) -> str:
    """A unified spot symbol as it appears in URLs and group names: ``BTC/USDT`` → ``BTC-USDT``."""
    return symbol.upper().replace("/", "-")


def market_unslug(text: str) -> str:
    """The unified symbol of a URL segment: ``BTC-USDT``, ``btc-usdt`` or ``BTC/USDT`` (``%2F``) → ``BTC/USDT``.

    The first hyphen separates base and quote (unified spot symbols carry none of their own here).
    """
    text = text.strip().upper()
    if "/" in text:
        return text
    base, hyphen, quote = text.partition("-")
    return f"{base}/{quote}" if hyphen else text


def snapshot_render(snapshot: Mapping[str, Any], *, rows: int = 10) -> str:
    """The snapshot as terminal text: each venue's state and top, then ``rows`` aggregated levels a side (asks
    above bids, best prices in the middle) and any cross-venue signal."""
    lines = [f"{snapshot['symbol']}  {snapshot['time']}"]
    for venue in snapshot["venues"]:
        bid, ask = venue["bid"], venue["ask"]
        top = (
            f"{bid['size']} @ {bid['price']}  |  {ask['price']} x {ask['size']}"
            if bid is not None and ask is not None
            else "-"
        )
        resyncs = sum(venue["resyncs"].values())
        lines.append(
            f"  {venue['venue']:<9}{venue['state']:<11}{top}   msgs {venue['messages']} resyncs {resyncs} "
            f"reconnects {venue['reconnects']}"
        )
    width = max([len(level["price"]) for level in snapshot["bids"][:rows] + snapshot["asks"][:rows]] + [5])
    lines.append(f"  {'price':>{width}}  size")
    for level in reversed(snapshot["asks"][:rows]):
        lines.append(f"  {level['price']:>{width}}  {level['size']}  ask  {' '.join(sorted(level['venues']))}")
    lines.append("  " + "-" * (width + 8))
    for level in snapshot["bids"][:rows]:
        lines.append(f"  {level['price']:>{width}}  {level['size']}  bid  {' '.join(sorted(level['venues']))}")
    for signal in snapshot["signals"]:
        lines.append(
            f"  signal: buy {signal['size']} on {signal['buy_venue']} at {signal['buy_price']}, sell on "
            f"{signal['sell_venue']} at {signal['sell_price']}, edge {signal['edge']} per unit after fees"
        )
    return "\n".join(lines)
