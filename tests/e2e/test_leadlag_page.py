"""The lead-lag page in a real browser against the real ASGI server: a stored run's cross-correlation curves and
rolling leadership share are drawn, hovering shows a point's values, and a chart downloads as a PNG."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import expect

from tests.e2e.browser import run_outside_playwright
from tests.factories import UserFactory
from tests.marketdata.views.test_leadlag import LAGS, stored_page_run

SCREENSHOT = Path(tempfile.gettempdir()) / "leadlag-page.png"  # for a person to look at after a run
INKED_PIXELS = """(id) => {
    const c = document.getElementById(id);
    const pixels = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
    const background = [pixels[0], pixels[1], pixels[2]];
    let inked = 0;
    for (let i = 0; i < pixels.length; i += 4) {
        const same = pixels[i] === background[0] && pixels[i + 1] === background[1];
        if (!same || pixels[i + 2] !== background[2]) inked += 1;
    }
    return inked;
}"""


@pytest.mark.browser
def test_leadlag_page_draws_the_stored_run_hovers_and_downloads_png(chromium, live_asgi_server) -> None:
    # Given three BTC markets and a finished 1s run: 11 lags per pair, one undefined in the second pair
    run_id = run_outside_playwright(stored_page_run)
    page = chromium.new_page(viewport={"width": 1200, "height": 900}, accept_downloads=True)
    page.set_default_timeout(15_000)
    expect.set_options(timeout=15_000)

    # When a visitor opens the market's lead-lag page
    page.goto(f"{live_asgi_server.url}/markets/leadlag/BTC-USDT/")

    # Then each pair's curve is drawn with its defined lag points and the peak, and the rolling chart has a line
    # per pair with windows
    first = page.locator("#leadlag-xcorr-0")
    expect(first).to_have_attribute("data-state", "ready")
    expect(first).to_have_attribute("data-points", str(len(LAGS)))
    expect(first).to_have_attribute("data-peak-lag", "2")
    expect(page.locator("#leadlag-xcorr-1")).to_have_attribute("data-points", str(len(LAGS) - 1))
    expect(page.locator("#leadlag-xcorr-2")).to_have_attribute("data-points", str(len(LAGS)))
    rolling = page.locator("#leadlag-rolling")
    expect(rolling).to_have_attribute("data-state", "ready")
    expect(rolling).to_have_attribute("data-lines", "2")  # the Binance/Bybit pair has no rolling window
    expect(rolling).to_have_attribute("data-windows", "4")
    expect(page.locator("#leadlag-verdicts li")).to_have_text(
        [
            "Binance leads Coinbase by about 2 s; stable in 2 of 3 days",
            "No confident leader between Binance and Bybit",
            "Unresolvable at this interval (1s): Bybit appears to lead Coinbase by less than one step",
        ]
    )
    assert page.evaluate(INKED_PIXELS, "leadlag-xcorr-0") > 3_000  # band, curve, points, axes actually painted
    assert page.evaluate(INKED_PIXELS, "leadlag-rolling") > 3_000
    assert page.locator("#leadlag-run-form").count() == 0  # anonymous: no run form

    # When the pointer moves over the rightmost lag of the first curve
    box = first.bounding_box()
    assert box is not None
    first.hover(position={"x": box["width"] - 17, "y": box["height"] / 2})  # the plot ends 16 px from the edge

    # Then that point's values are shown
    expect(first).to_have_attribute("data-hover-lag", "5")
    expect(page.locator("#leadlag-xcorr-0-readout")).to_have_text(
        "lag 5 s: \N{GREEK SMALL LETTER RHO} 0.0000 (band ±0.0500, 2995 return pairs)"
    )

    # When the pointer moves over the rolling chart's first window
    rolling_box = rolling.bounding_box()
    assert rolling_box is not None
    rolling.hover(position={"x": 70, "y": rolling_box["height"] / 2})
    expect(page.locator("#leadlag-rolling-readout")).to_have_text(
        "2023-11-14: Binance/Coinbase 0.910 (leader binance); Binance/Bybit —; Bybit/Coinbase 0.500"
    )
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    # When the visitor downloads the first curve as PNG
    with page.expect_download() as download_info:
        page.locator('button.leadlag-png[data-canvas="leadlag-xcorr-0"]').click()
    download = download_info.value

    # Then the browser saves a PNG of the canvas under the chart's name
    assert download.suggested_filename == f"leadlag-BTC-USDT-run{run_id}-binance-coinbase-xcorr.png"
    assert download.url.startswith("data:image/png;base64,")
    assert page.evaluate("() => window.leadlagCharts.lastPng.startsWith('data:image/png;base64,')")
    assert Path(download.path()).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def signed_in_session() -> str:
    """A user's session key, as if they had signed in."""
    client = Client()
    client.force_login(UserFactory())
    return str(client.cookies[settings.SESSION_COOKIE_NAME].value)


@pytest.mark.browser
def test_signed_in_user_starts_a_run_with_the_csrf_token(chromium, live_asgi_server) -> None:
    # Given a signed-in user on the page of a market with a stored run
    run_outside_playwright(stored_page_run)
    session = run_outside_playwright(signed_in_session)
    context = chromium.new_context(viewport={"width": 1200, "height": 900})
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_asgi_server.url}])
    page = context.new_page()
    page.set_default_timeout(15_000)
    expect.set_options(timeout=15_000)
    posted: list[dict[str, Any]] = []

    def answer(route: Any) -> None:
        # The API itself is tested on its own; here: what the page sends, and how it shows the answer.
        request = route.request
        posted.append({"headers": request.headers, "body": request.post_data_json})
        route.fulfill(status=202, content_type="application/json", body=json.dumps({"id": 4242, "status": "queued"}))

    page.route("**/api/v1/leadlag/", answer)
    page.goto(f"{live_asgi_server.url}/markets/leadlag/BTC-USDT/")

    # When they start a 1m run over one day with a maximum lag of 10 steps
    page.fill("#leadlag-form-exchanges", "binance,coinbase:BTC/USD")
    page.select_option("#leadlag-form-interval", "1m")
    page.fill("#leadlag-form-start", "2023-11-14")
    page.fill("#leadlag-form-end", "2023-11-15")
    page.fill("#leadlag-form-max-lag", "10")
    page.click("#leadlag-run-form button[type=submit]")

    # Then the page posted the run with the form's CSRF token and says it is queued
    expect(page.locator("#leadlag-run-status")).to_have_text(
        "Run #4242 is queued; reload the page when it has finished."
    )
    token = page.locator("#leadlag-run-form input[name=csrfmiddlewaretoken]").get_attribute("value")
    assert len(posted) == 1
    assert posted[0]["headers"]["x-csrftoken"] == token
    assert posted[0]["body"] == {
        "symbol": "BTC/USDT",
        "exchanges": "binance,coinbase:BTC/USD",
        "interval": "1m",
        "start": "2023-11-14",
        "end": "2023-11-15",
        "max_lag": 10,
    }
    context.close()
