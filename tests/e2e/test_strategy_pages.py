"""A backtest's page in a real browser against the real ASGI server: its equity, drawdown and price charts are
painted, with the run's trades marked on the traded market's closes."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.browser import run_outside_playwright, session_cookie
from tests.e2e.test_leadlag_page import INKED_PIXELS
from tests.factories import UserFactory
from tests.marketdata.factories import InstrumentFactory
from tests.strategies.conftest import BINANCE, BYBIT, candles_store
from tests.strategies.test_views import run_for


def finished_backtest() -> tuple[int, Any, int, int]:
    """A finished leadlag backtest on the tests' Binance and Bybit minutes: (run id, owner, NAV points, trades)."""
    for exchange, rows in (("binance", BINANCE), ("bybit", BYBIT)):
        instrument = InstrumentFactory(exchange=exchange, symbol="BTC/USDT", venue_symbol="BTCUSDT", base="BTC")
        candles_store(instrument, rows)
    owner = UserFactory()
    run = run_for(owner)
    return run.pk, owner, run.nav_points.count(), run.ledger.filter(kind="trade").count()


@pytest.mark.browser
def test_a_backtest_page_paints_equity_drawdown_and_the_trades_on_the_price(chromium, live_asgi_server) -> None:
    # Given a finished backtest with trades, and its owner signed in
    run_id, owner, nav_points, trades = run_outside_playwright(finished_backtest)
    assert trades == 2 and nav_points > 2
    context = chromium.new_context(viewport={"width": 1200, "height": 1000})
    context.add_cookies([run_outside_playwright(session_cookie, user=owner, url=live_asgi_server.url)])
    page = context.new_page()
    page.set_default_timeout(15_000)
    expect.set_options(timeout=15_000)

    # When the owner opens the run's page
    page.goto(f"{live_asgi_server.url}/strategies/runs/{run_id}/")

    # Then every chart is drawn from the stored run: a point per NAV step, both trades marked on the closes
    for chart in ("strategy-equity", "strategy-drawdown"):
        expect(page.locator(f"#{chart}")).to_have_attribute("data-state", "drawn")
        expect(page.locator(f"#{chart}")).to_have_attribute("data-points", str(nav_points))
        assert page.evaluate(INKED_PIXELS, chart) > 1_000
    price = page.locator("#strategy-price")
    expect(price).to_have_attribute("data-state", "drawn")
    expect(price).to_have_attribute("data-markers", str(trades))
    assert page.evaluate(INKED_PIXELS, "strategy-price") > 1_000
    context.close()
