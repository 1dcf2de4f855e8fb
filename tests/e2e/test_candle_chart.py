"""The market pages: the markets list with last-close tiles, and the candle chart in a real browser against the
real ASGI server — it draws the stored candles, zooms, and takes live candles from a broadcast (a closed candle
replaces the open one; a new one is appended)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from playwright.sync_api import expect

from marketdata import services
from marketdata.broadcasts import klines_broadcast
from marketdata.core.candles import Candle
from marketdata.core.intervals import MINUTE_MS
from marketdata.views.markets import market_slug, market_symbol
from tests.e2e.browser import run_outside_playwright
from tests.marketdata.factories import InstrumentFactory

T0 = 1_570_752_000_000  # 2019-10-11 00:00:00 UTC
STORED = 150
SCREENSHOT = Path(tempfile.gettempdir()) / "candle-chart.png"  # for a person to look at after a run


def stored_candles(count: int) -> list[Candle]:
    """A zig-zag series of 1m candles; the last one still open."""
    candles = []
    for i in range(count):
        base = 8000 + (i % 20) * 5 + i
        candles.append(
            Candle(
                T0 + i * MINUTE_MS, f"{base}.10", f"{base + 9}.50", f"{base - 7}.25", f"{base + 3}.00", f"{i + 1}.125"
            )
        )
    last = candles[-1]
    candles[-1] = Candle(last.open_time, last.open, last.high, last.low, last.close, last.volume, closed=False)
    return candles


def market_with_candles() -> int:
    market = InstrumentFactory(symbol="BTC/USDT", venue_symbol="BTCUSDT", base="BTC")
    services.instrument_set_tracked(instrument_id=market.pk, tracked=True, intervals=["1m"])
    services.klines_store(instrument_id=market.pk, interval="1m", candles=stored_candles(STORED), covered=None)
    return int(market.pk)


def test_slug_round_trip() -> None:
    for symbol in ("BTC/USDT", "BTC/USDT:USDT", "1000PEPE/USDT", "USD-X/USDC"):
        assert market_symbol(market_slug(symbol)) == symbol
    assert market_slug("BTC/USDT:USDT") == "BTC-USDT:USDT"
    assert market_symbol("BTCUSDT") == "BTCUSDT"


@pytest.mark.django_db
def test_markets_page_shows_a_tile_with_the_exact_last_close(client) -> None:
    market_id = market_with_candles()
    InstrumentFactory(symbol="ETH/USDT", venue_symbol="ETHUSDT", base="ETH")

    response = client.get("/markets/")

    content = response.content.decode()
    assert response.status_code == 200
    assert len(response.context["rows"]) == 2
    tile = response.context["rows"][0]
    assert (tile["market"].pk, tile["last_interval"], tile["last"].close, tile["last"].closed) == (
        market_id,
        "1m",
        "8197.00",
        False,
    )
    assert '<span class="price-tile-close" data-role="close">8197.00</span>' in content
    assert 'href="/markets/binance/BTC-USDT/"' in content
    assert response.context["rows"][1]["last"] is None


@pytest.mark.django_db
def test_chart_page_chooses_the_interval_and_404s_for_unknown_markets(client) -> None:
    InstrumentFactory(exchange="coinbase", symbol="BTC/USD", venue_symbol="BTC-USD", base="BTC", quote="USD")
    perp = InstrumentFactory(market_type="perp", symbol="BTC/USDT:USDT", venue_symbol="BTCUSDT")

    coinbase = client.get("/markets/coinbase/BTC-USD/", {"interval": "3m"})  # not a Coinbase interval
    chosen = client.get("/markets/coinbase/BTC-USD/", {"interval": "6h"})
    perp_page = client.get("/markets/binance/BTC-USDT:USDT/")

    assert coinbase.context["intervals"] == ["1m", "5m", "15m", "1h", "6h", "1d"]
    assert coinbase.context["interval"] == "1m"
    assert chosen.context["interval"] == "6h"
    assert perp_page.context["market"].pk == perp.pk
    assert "1s" not in perp_page.context["intervals"]
    assert f'data-ws-path="/ws/klines/{perp.pk}/"' in perp_page.content.decode()
    assert client.get("/markets/binance/ETH-USDT/").status_code == 404
    assert client.get("/markets/kraken/BTC-USD/").status_code == 404
    assert client.get("/markets/coinbase/BTCUSD/").status_code == 404


@pytest.mark.browser
def test_chart_draws_stored_candles_zooms_and_updates_live(chromium, live_asgi_server) -> None:
    # Given 150 stored 1m candles, the last still open
    market_id = run_outside_playwright(market_with_candles)
    page = chromium.new_page(viewport={"width": 1200, "height": 900})
    page.set_default_timeout(15_000)
    expect.set_options(timeout=15_000)

    # When a visitor opens the market's chart
    page.goto(f"{live_asgi_server.url}/markets/binance/BTC-USDT/")
    canvas = page.locator("#candle-chart")

    # Then every stored candle is loaded, the default view draws the newest 120, and the socket is live
    expect(canvas).to_have_attribute("data-state", "ready")
    expect(canvas).to_have_attribute("data-candles", str(STORED))
    expect(canvas).to_have_attribute("data-visible", "120")
    expect(canvas).to_have_attribute("data-last-close", "8197.00")
    expect(canvas).to_have_attribute("data-last-closed", "false")
    expect(canvas).to_have_attribute("data-socket", "live")
    expect(page.locator("#chart-legend [data-field=volume]")).to_have_text("150.125")
    drawn = page.evaluate(
        """() => {
            const c = document.getElementById("candle-chart");
            const pixels = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
            let inked = 0;
            for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) inked += 1;
            return inked;
        }"""
    )
    assert drawn > 10_000  # candles, wicks and volume bars were actually painted

    # When the wheel zooms in over the chart, fewer candles are drawn
    box = canvas.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    expect(canvas).to_have_attribute("data-zoom", "120")
    page.mouse.wheel(0, -100)
    # 120 / 1.15 slots; around the pointer the edges fall between candles, so one may be cut in two
    expect(canvas).to_have_attribute("data-zoom", "104")
    assert canvas.get_attribute("data-visible") in ("104", "105")
    page.mouse.wheel(0, 100)
    expect(canvas).to_have_attribute("data-zoom", "120")
    canvas.dblclick()  # follow the newest candle again

    # When a worker broadcasts the close of the open candle and the next, still open, candle
    last_open_time = T0 + (STORED - 1) * MINUTE_MS
    closing = Candle(last_open_time, "8246.10", "8260.00", "8239.25", "8251.50000000", "170.5")
    following = Candle(last_open_time + MINUTE_MS, "8251.5", "8252", "8250", "8251.75", "0.001", closed=False)
    run_outside_playwright(klines_broadcast, instrument_id=market_id, interval="1m", candles=[closing, following])

    # Then the closed candle replaced the open one (no duplicate) and the new one is appended
    expect(canvas).to_have_attribute("data-candles", str(STORED + 1))
    expect(canvas).to_have_attribute("data-last-close", "8251.75")
    expect(canvas).to_have_attribute("data-visible", "120")
    tail = page.evaluate(
        "() => window.candleChart.candles.slice(-3).map(c => [c.open_time_ms, c.close, c.volume, c.closed])"
    )
    assert tail == [
        [last_open_time - MINUTE_MS, "8191.00", "149.125", True],
        [last_open_time, "8251.50000000", "170.5", True],
        [last_open_time + MINUTE_MS, "8251.75", "0.001", False],
    ]
    open_times = page.evaluate("() => window.candleChart.candles.map(c => c.open_time_ms)")
    assert open_times == [T0 + i * MINUTE_MS for i in range(STORED + 1)]

    # When a late open update for the closed minute arrives, it does not undo the close
    stale = Candle(last_open_time, "8246.10", "8250", "8240", "8249", "160", closed=False)
    run_outside_playwright(klines_broadcast, instrument_id=market_id, interval="1m", candles=[stale])
    expect(canvas).to_have_attribute("data-updates", "2")
    assert page.evaluate("() => window.candleChart.candles[149].close") == "8251.50000000"

    # And another interval's broadcast is ignored by the 1m chart
    run_outside_playwright(
        klines_broadcast, instrument_id=market_id, interval="5m", candles=[Candle(T0, "1", "1", "1", "1", "1")]
    )
    expect(canvas).to_have_attribute("data-candles", str(STORED + 1))
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    # When the visitor switches to 5m (nothing stored there), the chart empties
    page.select_option("#chart-interval", "5m")
    expect(canvas).to_have_attribute("data-state", "ready")
    expect(canvas).to_have_attribute("data-candles", "0")
    assert page.url.endswith("/markets/binance/BTC-USDT/?interval=5m")
