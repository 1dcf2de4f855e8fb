"""The depth-chart page in a real browser against the real ASGI server: the last published snapshot is drawn on
connect, each later publication is drawn live, and a venue that resyncs shows as such."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from playwright.sync_api import expect

from orderbook.l2.book import L2Book, Side
from orderbook.live.snapshots import VenueFeed, book_snapshot
from orderbook.selectors import DEFAULT_TAKER_FEES
from orderbook.services import orderbook_snapshot_publish
from tests.e2e.browser import run_outside_playwright

pytestmark = pytest.mark.browser


def book(bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> L2Book:
    result = L2Book()
    result.apply_many(Side.BID, bids)
    result.apply_many(Side.ASK, asks)
    return result


def snapshot(bybit_live: bool, best_bid: str) -> dict[str, Any]:
    feeds = {
        "binance": VenueFeed(book([(best_bid, "0.5"), ("100.00", "2")], [("101.20", "1.25"), ("101.30", "3")]), "live"),
        "bybit": VenueFeed(
            book([("99.90", "4")], [("101.40", "2")]) if bybit_live else None, "live" if bybit_live else "syncing"
        ),
    }
    return book_snapshot(
        "BTC/USDT", feeds, taker_fees=DEFAULT_TAKER_FEES, depth=50, at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    )


def publish(payload: dict[str, Any]) -> None:
    run_outside_playwright(async_to_sync(orderbook_snapshot_publish), snapshot=payload)


def test_depth_chart_draws_the_last_snapshot_then_live_updates(chromium, live_asgi_server) -> None:
    publish(snapshot(bybit_live=True, best_bid="101.10"))
    page = chromium.new_page()
    page.set_default_timeout(15_000)
    expect.set_options(timeout=15_000)

    page.goto(f"{live_asgi_server.url}/orderbook/BTC-USDT/")

    chart = page.locator("#depth-chart")
    expect(page.locator("#depth-connection")).to_have_attribute("data-state", "live")
    expect(chart).to_have_attribute("data-updates", "1")
    expect(chart).to_have_attribute("data-best-bid", "101.10")
    expect(chart).to_have_attribute("data-bids", "3")  # 101.10, 100.00, 99.90 aggregated across venues
    expect(chart).to_have_attribute("data-asks", "3")
    expect(page.locator("tr[data-venue=bybit] td").nth(1)).to_have_text("live")
    # The canvas was really painted: some pixel is not transparent.
    painted = page.evaluate(
        "() => { const c = document.getElementById('depth-chart');"
        " return c.getContext('2d').getImageData(0, 0, c.width, c.height).data.some(v => v !== 0); }"
    )
    assert painted is True

    # When the watcher publishes a new book with Bybit resyncing
    publish(snapshot(bybit_live=False, best_bid="101.15"))

    # Then the page redraws it live, Bybit contributing nothing
    expect(chart).to_have_attribute("data-updates", "2")
    expect(chart).to_have_attribute("data-best-bid", "101.15")
    expect(chart).to_have_attribute("data-bids", "2")
    expect(page.locator("tr[data-venue=bybit] td").nth(1)).to_have_text("syncing")
    expect(page.locator("tr[data-venue=bybit] td").nth(2)).to_have_text("—")
