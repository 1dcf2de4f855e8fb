"""The fee calculator in a real browser against the real ASGI server: the issue's example gives the same result
JSON as the command and the API, and a bad scenario shows the error naming the event."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from tests.fees.builders import EXAMPLE_RESULT

pytestmark = pytest.mark.browser


def test_visitor_runs_the_example_and_a_bad_scenario(chromium, live_asgi_server) -> None:
    # Given a visitor who is not signed in, on the calculator page (found from the nav)
    page = chromium.new_page()
    page.set_default_timeout(15_000)
    expect.set_options(timeout=15_000)
    page.goto(f"{live_asgi_server.url}/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Fee calculator").click()
    page.wait_for_url(f"{live_asgi_server.url}/fees/calculator/")

    # When they calculate the prefilled example
    page.get_by_role("button", name="Calculate").click()

    # Then the page shows exactly the result the command and the API give
    expect(page.locator("#fee-result")).to_be_visible()
    assert json.loads(page.locator("#fee-result-json").text_content() or "") == EXAMPLE_RESULT
    expect(page.locator("#fee-nav")).to_have_text(EXAMPLE_RESULT["nav_per_share"])
    row = page.locator("#fee-depositors tr[data-depositor=A] td")
    expect(row).to_have_text(
        [
            "952087.542087542087542088",
            "1125488",
            "1125488",
            "1.125488",
            EXAMPLE_RESULT["depositors"]["A"]["management_fee"],
            "9400.0000000000000000000594000000000000000000000594",
            "47442",
        ]
    )

    # When they ask for more shares than A holds
    scenario = json.loads(page.locator("#fee-scenario").input_value())
    scenario["events"][4]["shares"] = "2000000"
    page.locator("#fee-scenario").fill(json.dumps(scenario))
    page.get_by_role("button", name="Calculate").click()

    # Then the error names the event and the old result is gone
    expect(page.get_by_role("alert")).to_contain_text("events[4] (withdraw): withdrawing 2000000 shares")
    expect(page.locator("#fee-result")).to_be_hidden()
