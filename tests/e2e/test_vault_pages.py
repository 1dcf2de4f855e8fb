"""static/js/vault.js in a real browser against the real ASGI server: the public vault page draws the NAV series
and appends each snapshot pushed over /ws/vaults/<id>/nav/; "my holdings" re-reads the holder's value when the
vault's NAV changes. The snapshots come from the vault services, committed, exactly as in production."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.e2e.browser import run_outside_playwright, session_cookie
from tests.factories import UserFactory
from vaults import selectors, services
from vaults.models import Vault

pytestmark = pytest.mark.browser


def funded_vault() -> tuple[Vault, Any]:
    """A public vault started a day ago with one depositor's 1,000 USDC (6 decimals)."""
    depositor = UserFactory()
    vault = services.vault_create(
        name="Live Core",
        slug="live-core",
        base_asset="USDC",
        asset_decimals=6,
        started_at=timezone.now() - timedelta(days=1),
    )
    services.vault_deposit_record(
        vault_id=vault.pk,
        depositor_id=depositor.pk,
        amount=1_000_000_000,
        idempotency_key="e2e-vault-page",
        recorded_by_id=depositor.pk,
    )
    return vault, depositor


def gain(vault_id: int, gross: str) -> str:
    """Record a gross return (committed; the services broadcast it on commit); the NAV text the API serves."""
    snapshot = services.vault_return_record(vault_id=vault_id, gross=Decimal(gross))
    return str(snapshot.price)


def holding_texts(user_id: int) -> tuple[str, str]:
    (holding,) = selectors.holdings_for(depositor_id=user_id)
    return str(holding.value), str(holding.net_value)


def test_vault_page_appends_each_pushed_nav_to_its_chart(chromium, live_asgi_server) -> None:
    vault, _ = run_outside_playwright(funded_vault)
    page = chromium.new_page()
    page.set_default_timeout(15_000)
    expect.set_options(timeout=15_000)

    # Given a visitor (not signed in) on the vault's public page
    page.goto(f"{live_asgi_server.url}/vaults/{vault.slug}/")
    chart = page.locator("#vault-nav-chart")
    expect(page.locator("#vault-nav")).to_have_text("1")
    points_before = page.evaluate(
        "async (url) => (await (await fetch(url)).json()).nav_series.length", chart.get_attribute("data-api-url")
    )
    assert points_before >= 1

    # When the vault gains 10% (a committed snapshot)
    expect(chart).to_have_attribute("data-socket", "open")  # joined: a push before that is not replayed
    nav = run_outside_playwright(gain, vault_id=vault.pk, gross="0.1")

    # Then the page shows the new NAV and draws one more point, without a reload
    expect(page.locator("#vault-nav")).not_to_have_text("1")
    shown = page.locator("#vault-nav").text_content() or ""
    assert Decimal(shown) == Decimal(nav)
    assert Decimal("1.09") < Decimal(shown) < Decimal("1.1")  # +10% less the day's management fee
    expect(chart).to_have_attribute("data-updates", "1")
    painted = page.evaluate(
        "() => { const c = document.getElementById('vault-nav-chart');"
        " return c.getContext('2d').getImageData(0, 0, c.width, c.height).data.some(v => v !== 0); }"
    )
    assert painted is True

    # And a second move is appended too
    nav = run_outside_playwright(gain, vault_id=vault.pk, gross="-0.05")
    expect(chart).to_have_attribute("data-updates", "2")
    expect(page.locator("#vault-nav")).to_have_text(nav)


def test_my_holdings_rereads_the_value_when_the_nav_changes(chromium, live_asgi_server) -> None:
    vault, depositor = run_outside_playwright(funded_vault)
    context = chromium.new_context()
    context.add_cookies([run_outside_playwright(session_cookie, user=depositor, url=live_asgi_server.url)])
    page = context.new_page()
    page.set_default_timeout(15_000)
    expect.set_options(timeout=15_000)

    # Given the depositor on their holdings page
    page.goto(f"{live_asgi_server.url}/vaults/mine/")
    section = page.locator(f"section.holding[data-vault-slug='{vault.slug}']")
    value_before, _ = run_outside_playwright(holding_texts, user_id=depositor.pk)
    expect(section.locator("[data-role=value]")).to_have_text(value_before)

    # When the vault's NAV changes
    expect(section).to_have_attribute("data-socket", "open")
    run_outside_playwright(gain, vault_id=vault.pk, gross="0.2")

    # Then the value and net value shown are the server's new exact figures
    value_after, net_after = run_outside_playwright(holding_texts, user_id=depositor.pk)
    assert value_after != value_before
    expect(section).to_have_attribute("data-updates", "1")
    expect(section.locator("[data-role=value]")).to_have_text(value_after)
    expect(section.locator("[data-role=net-value]")).to_have_text(net_after)
